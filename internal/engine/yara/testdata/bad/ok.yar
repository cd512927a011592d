rule Still_Loads
{
    meta:
        virus_name = "Test.Ok.StillLoads"
    strings:
        $a = "VIGIL-STILL-LOADS"
    condition:
        $a
}
