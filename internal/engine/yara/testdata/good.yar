rule Test_Miner : linux
{
    meta:
        virus_name = "Linux.Miner.TestMiner"
        tags = "miner, xmrig"
        risk_level = "RISK_HIGH"
        category = "Miner"
        desc_zh = "测试挖矿样本"
        desc_en = "Test miner sample"
        solution_zh = "删除"
        solution_en = "Delete it"
        reference = "https://example.com/miner"
    strings:
        $a = "stratum+tcp://vigil-test-pool" ascii
    condition:
        $a
}

rule Plain_User_Rule
{
    meta:
        description = "a third-party rule with only a description"
    strings:
        $a = "VIGIL-PLAIN-MARKER"
    condition:
        $a
}

private rule Helper
{
    strings:
        $a = "VIGIL-PRIVATE-MARKER"
    condition:
        $a
}

rule Uses_Private
{
    meta:
        virus_name = "Test.Private.Uses"
        risk_level = "notice"
    condition:
        Helper
}

rule Named_By_Extension
{
    meta:
        virus_name = "Php.Webshell.TestExt"
    strings:
        $a = "VIGIL-EXT-MARKER"
    condition:
        $a and extension == "php" and filetype == "PHP"
}
