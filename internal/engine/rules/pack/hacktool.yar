/*
 * vigil built-in pack: hack tools, intranet scanners and brute forcers.
 *
 * These tools are compiled programs whose own messages and option names
 * give them away: Fscan's progress banners and plugin names, THC-Hydra's
 * and Medusa's attempt/result lines. Each rule needs an executable header
 * and several of those strings together; any single word (netbios, redis,
 * ssh…) appears in countless legitimate programs and never suffices.
 */

rule HackTool_Fscan
{
    meta:
        virus_name = "Linux.Scanner.Fscan"
        tags = "scanner,hack_tools"
        risk_level = "RISK_HIGH"
        category = "HackTool"
        desc_zh = "发现主机上存在Fscan内网扫描工具。该工具可对内网进行存活探测、端口扫描、服务弱口令爆破和漏洞利用（如MS17-010、Redis未授权访问），常被攻击者用于横向移动；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "The Fscan intranet scanner was found on the host. It sweeps internal networks for live hosts and open ports, brute-forces service passwords and exploits known flaws such as MS17-010 and unauthenticated Redis, and attackers use it for lateral movement; if you did not put it there yourself, the host has probably been compromised."
        solution_zh = "1. 确认该工具是否为授权的安全测试所用，若否请立即结束相关进程并删除该文件；\n2. 排查该工具的扫描结果文件（如result.txt）及主机登录日志，确认内网中受影响的主机；\n3. 修改内网服务的弱口令，修复扫描暴露的漏洞。"
        solution_en = "1. Check whether the tool belongs to an authorised security test; if not, kill its processes and delete the file.\n2. Review its result files (such as result.txt) and the login logs to find the internal hosts it reached.\n3. Change weak service passwords and fix the vulnerabilities the scan exposed."
        reference = "https://attack.mitre.org/techniques/T1046/"

    strings:
        $banner_version = "fscan \x76ersion"
        $banner_icmp = "icmp alive \x68osts len is"
        $banner_ports = "alive por\x74s len is"
        $banner_infoscan = "start i\x6efoscan"
        $banner_vulscan = "start \x76ulscan"

        $plugin_eternalblue = "ms1\x37010"
        $plugin_smbv3 = "smbg\x68ost"
        $plugin_cve = "cve20\x3200796"
        $plugin_oxid = "fin\x64net"
        $plugin_webtitle = "WebT\x69tle"
        $plugin_wmi = "wmi\x65xec"
        $plugin_netinfo = "Net\x49nfo"
        $plugin_redis = "unauthori\x7aed file:"

    condition:
        (uint32(0) == 0x464c457f or uint16(0) == 0x5a4d or uint32(0) == 0xfeedfacf) and
        filesize < 80MB and
        ((any of ($banner_*) and 3 of ($plugin_*)) or 6 of ($plugin_*))
}

rule HackTool_Hydra
{
    meta:
        virus_name = "Linux.HackTool.Hydra"
        tags = "bruteforce,hack_tools"
        risk_level = "RISK_MEDIUM"
        category = "HackTool"
        desc_zh = "发现主机上存在THC-Hydra口令爆破工具。该工具可对SSH、RDP、数据库、FTP等几十种服务进行口令暴力破解，常被攻击者用于横向移动；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "The THC-Hydra password brute-forcer was found on the host. It guesses passwords against dozens of services such as SSH, RDP, databases and FTP, and attackers use it to spread inside a network; if you did not put it there yourself, the host has probably been compromised."
        solution_zh = "1. 确认该工具是否为授权的安全测试所用，若否请立即结束相关进程并删除该文件；\n2. 检查主机的登录日志及网络连接，确认被爆破的目标；\n3. 为暴露的服务设置强口令并限制来源IP。"
        solution_en = "1. Check whether the tool belongs to an authorised security test; if not, kill its processes and delete the file.\n2. Review login logs and network connections to find the targets it attacked.\n3. Give the exposed services strong passwords and restrict the source addresses allowed to reach them."
        reference = "https://attack.mitre.org/techniques/T1110/"

    strings:
        $author = "van Hau\x73er/THC"
        $project = "thc-\x68ydra"
        $attempt = "[ATTEMPT] tar\x67et %s - login"
        $attacking = "[DATA] a\x74tacking"
        $status = "trie\x73/min"
        $services = "Supported\x20services:"
        $restore = "hydra.\x72estore"

    condition:
        (uint32(0) == 0x464c457f or uint16(0) == 0x5a4d or uint32(0) == 0xfeedfacf) and
        filesize < 20MB and
        4 of them
}

rule HackTool_Medusa
{
    meta:
        virus_name = "Linux.HackTool.Medusa"
        tags = "bruteforce,hack_tools"
        risk_level = "RISK_MEDIUM"
        category = "HackTool"
        desc_zh = "发现主机上存在Medusa口令爆破工具。该工具可并行地对SSH、数据库、Telnet等服务进行口令暴力破解，常被攻击者用于横向移动；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "The Medusa parallel password brute-forcer was found on the host. It guesses passwords against services such as SSH, databases and Telnet, and attackers use it to spread inside a network; if you did not put it there yourself, the host has probably been compromised."
        solution_zh = "1. 确认该工具是否为授权的安全测试所用，若否请立即结束相关进程并删除该文件；\n2. 检查主机的登录日志及网络连接，确认被爆破的目标；\n3. 为暴露的服务设置强口令并限制来源IP。"
        solution_en = "1. Check whether the tool belongs to an authorised security test; if not, kill its processes and delete the file.\n2. Review login logs and network connections to find the targets it attacked.\n3. Give the exposed services strong passwords and restrict the source addresses allowed to reach them."
        reference = "https://attack.mitre.org/techniques/T1110/"

    strings:
        $author = "JoMo\x2dKun"
        $site = "foofu\x73.net"
        $found = "ACCOUNT \x46OUND: ["
        $check = "ACCOUNT \x43HECK: ["
        $modules = "Available \x6dodules in"

    condition:
        (uint32(0) == 0x464c457f or uint16(0) == 0x5a4d or uint32(0) == 0xfeedfacf) and
        filesize < 20MB and
        3 of them
}
