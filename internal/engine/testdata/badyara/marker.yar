rule Engine_Test_Marker
{
    meta:
        virus_name = "Linux.Test.Marker"
        tags = "test"
        risk_level = "RISK_HIGH"
        category = "TestFile"
        desc_zh = "引擎测试标记"
        desc_en = "Engine test marker"
        solution_zh = "无需处理"
        solution_en = "Nothing to do"
    strings:
        $a = "VIGIL-ENGINE-TEST-MARKER"
    condition:
        $a
}
