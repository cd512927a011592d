/*
 * vigil built-in pack: Linux/IoT botnets of the Mirai and Gafgyt (Bashlite)
 * families.
 *
 * Mirai keeps its configuration table XOR-encoded with the single byte
 * 0x22 (the four bytes of its 0xdeadbeef key folded together), so the
 * Mirai rule looks for table entries under that key, for its few plaintext
 * banners, or for its telnet default-credential dictionary next to its
 * busybox and watchdog handling. Gafgyt keeps its IRC-like command words
 * and scanner messages in clear text. Every rule needs an ELF header and
 * several indicators together: busybox itself carries the busybox path
 * and the watchdog device, and must never qualify.
 */

rule Botnet_Mirai
{
    meta:
        virus_name = "Linux.Botnet.Mirai"
        tags = "botnet,mirai,ddos"
        risk_level = "RISK_CRITICAL"
        category = "Botnet"
        desc_zh = "发现Mirai家族僵尸网络木马。该木马会通过Telnet/SSH弱口令扫描并感染其他设备，接收控制端指令发起DDoS攻击；若不是您的主动行为，您的主机已经失陷并被控制。"
        desc_en = "A Mirai-family botnet trojan was found. It spreads by scanning for Telnet/SSH devices with default passwords and launches DDoS attacks on its controller's orders; the host has been compromised and is under an attacker's control."
        solution_zh = "1. 立即结束木马进程并删除该文件，注意木马可能伪装成随机进程名并删除自身文件；\n2. 检查并清理crontab、systemd服务、rc.local、/etc/init.d等位置的恶意持久化项；\n3. 修改所有账号的弱口令（尤其是Telnet/SSH），关闭不必要的Telnet服务并限制来源IP。"
        solution_en = "1. Kill the trojan's processes and delete the file; it may run under random names and delete its own file.\n2. Remove malicious persistence from crontab, systemd units, rc.local and /etc/init.d.\n3. Change every weak password (Telnet and SSH especially), turn off Telnet unless it is needed, and restrict source addresses."
        reference = "https://attack.mitre.org/software/S0532/"

    strings:
        $banner_applet = "MIRAI: appl\x65t not found"
        $banner_busybox = "/bin/busy\x62ox MIRAI"

        $table_busybox = "/bin/b\x75sybox" xor(0x22)
        $table_watchdog = "/dev/w\x61tchdog" xor(0x22)
        $table_query = "TSource En\x67ine Query" xor(0x22)
        $table_route = "/proc/n\x65t/route" xor(0x22)
        $table_resolv = "/etc/res\x6flv.conf" xor(0x22)
        $table_ncorrect = "ncor\x72ect" xor(0x22)
        $table_assword = "ass\x77ord" xor(0x22)
        $table_nogtfo = "LOLN\x4fGTFO" xor(0x22)

        $cred_dvr1 = "xc3\x3511"
        $cred_dvr2 = "vi\x7axv"
        $cred_ipcam1 = "xmh\x64ipc"
        $cred_ipcam2 = "juan\x74ech"
        $cred_ipcam3 = "7uj\x4dko0"
        $cred_hisilicon = "hi3\x3518"
        $cred_klv = "klv\x3123"
        $cred_zte = "Zte\x3521"
        $cred_jvb = "jv\x62zd"
        $cred_smc = "smca\x64min"
        $cred_mein = "mei\x6esm"
        $cred_dbox = "drea\x6dbox"
        $cred_ik = "ik\x77b"
        $cred_zl = "zl\x78x."

        $sys_busybox = "/bin/b\x75sybox"
        $sys_watchdog = "/dev/w\x61tchdog"
        $sys_misc_watchdog = "/dev/misc\x2fwatchdog"

    condition:
        uint32(0) == 0x464c457f and
        filesize < 5MB and
        (
            any of ($banner_*) or
            3 of ($table_*) or
            (6 of ($cred_*) and any of ($sys_*))
        )
}

rule Botnet_Gafgyt
{
    meta:
        virus_name = "Linux.Botnet.Gafgyt"
        tags = "botnet,gafgyt,ddos"
        risk_level = "RISK_CRITICAL"
        category = "Botnet"
        desc_zh = "发现Gafgyt（Bashlite）家族僵尸网络木马。该木马会扫描并通过弱口令感染其他设备，接收控制端指令发起UDP/TCP/HTTP洪水等DDoS攻击；若不是您的主动行为，您的主机已经失陷并被控制。"
        desc_en = "A Gafgyt (Bashlite) family botnet trojan was found. It infects other devices through weak passwords and launches UDP, TCP and HTTP flood attacks on its controller's orders; the host has been compromised and is under an attacker's control."
        solution_zh = "1. 立即结束木马进程并删除该文件；\n2. 检查并清理crontab、systemd服务、rc.local、/etc/init.d等位置的恶意持久化项；\n3. 修改所有账号的弱口令（尤其是Telnet/SSH），关闭不必要的Telnet服务并限制来源IP。"
        solution_en = "1. Kill the trojan's processes and delete the file.\n2. Remove malicious persistence from crontab, systemd units, rc.local and /etc/init.d.\n3. Change every weak password (Telnet and SSH especially), turn off Telnet unless it is needed, and restrict source addresses."
        reference = "https://attack.mitre.org/software/S0459/"

    strings:
        $cmd_killattk = "KILL\x41TTK"
        $cmd_nogtfo = "LOLN\x4fGTFO"
        $cmd_localip = "GETLO\x43ALIP"
        $cmd_scanner_on = "SCANN\x45R ON"
        $cmd_scanner_off = "SCANN\x45R OFF"
        $cmd_pong = "PO\x4eG!"
        $cmd_stomp = "HTTP\x53TOMP"
        $msg_marker = "gay\x66gt"
        $msg_octal = "\\147\\141\\17\x31\\146\\147\\164"
        $msg_myip = "My I\x50: %s"
        $msg_report = "REPORT \x25s:%s:%s"
        $msg_raw = "Failed openin\x67 raw socket."
        $msg_infect = "/bin/busyb\x6fx;echo -e"

    condition:
        uint32(0) == 0x464c457f and
        filesize < 5MB and
        4 of them and
        not Botnet_Mirai
}
