/*
 * vigil built-in pack: EICAR anti-virus test file.
 *
 * The EICAR file is harmless by design; it exists so that operators can
 * prove a scanner is wired up end to end. The EICAR specification allows
 * only whitespace after the 68-byte string and a total size of at most
 * 128 bytes, so the rule insists on both: a document that merely quotes
 * the string (a manual, a test suite, this repository's README) is not
 * an EICAR file and must not be reported as one.
 */

rule EICAR_Test_File
{
    meta:
        virus_name = "EICAR.Test.File"
        tags = "test_file,eicar"
        risk_level = "RISK_NOTICE"
        category = "TestFile"
        desc_zh = "发现EICAR反病毒测试文件。该文件无害，通常用于验证安全产品的检测能力；若不是您的主动测试行为，请确认该文件的来源。"
        desc_en = "An EICAR anti-virus test file was found. The file is harmless and is normally used to verify that security products detect files; if you did not place it there for a test, check where it came from."
        solution_zh = "1. 若为您的测试行为，可忽略本告警或将该文件加入白名单；\n2. 若不是您的主动行为，请删除该文件并排查其来源。"
        solution_en = "1. If you placed the file for a test, ignore this alert or add the file to the allowlist.\n2. Otherwise delete the file and find out how it got there."
        reference = "https://www.eicar.org/download-anti-malware-testfile/"

    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

    condition:
        $eicar at 0 and filesize <= 128
}
