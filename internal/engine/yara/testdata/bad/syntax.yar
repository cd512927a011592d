rule Broken
{
    strings:
        $a = "x"
    condition:
        $a and and
}
