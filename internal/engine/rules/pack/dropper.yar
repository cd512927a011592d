/*
 * vigil built-in pack: crypto-jacking dropper scripts.
 *
 * The shell scripts that install miners (Kinsing, WatchDog, TeamTNT, 8220
 * and their copies) share a recognisable routine: download a payload and
 * run it, kill every competing miner by name, then make themselves
 * persistent or blind the host's defences. Each step alone is everyday
 * administration (curl | sh installers, pkill, crontab); the rule needs
 * all three, plus a kill command and the names of at least two known
 * miners or miner droppers. Persistence counts only when it is added (a
 * cron entry piped into crontab or written to a cron file, an immutable
 * flag set with chattr, a key appended to authorized_keys): an incident
 * clean-up script kills the same miners and runs crontab -r and chattr -i,
 * and must not be reported.
 */

rule Dropper_Miner_Script
{
    meta:
        virus_name = "Linux.Trojan.MinerDropper"
        tags = "dropper,miner,script"
        risk_level = "RISK_CRITICAL"
        category = "Dropper"
        desc_zh = "发现挖矿木马下载脚本。该脚本会下载并执行挖矿程序，结束其他竞争的挖矿进程（如kinsing、kdevtmpfsi、xmrig），并通过crontab、chattr +i等方式进行持久化或卸载主机安全软件；若不是您的主动行为，您的主机已经失陷。"
        desc_en = "A crypto-jacking dropper script was found. It downloads and runs a miner, kills competing miners (such as kinsing, kdevtmpfsi and xmrig), and makes itself persistent with crontab or chattr +i or removes host security agents; the host has been compromised."
        solution_zh = "1. 删除该脚本，结束其下载的挖矿进程并删除挖矿程序（注意先用chattr -i解除文件锁定）；\n2. 检查并清理crontab、/etc/cron.*、systemd服务、~/.ssh/authorized_keys中被添加的内容；\n3. 排查入侵途径（如Redis、Docker API未授权访问或弱口令），修复漏洞并重新安装被卸载的安全软件。"
        solution_en = "1. Delete the script, kill the miner it started and delete the miner (run chattr -i first if the file is locked).\n2. Remove what it added to crontab, /etc/cron.*, systemd units and ~/.ssh/authorized_keys.\n3. Find how the attacker got in (unauthenticated Redis or Docker API, weak passwords…), fix it, and reinstall any security agent it removed."
        reference = "https://attack.mitre.org/techniques/T1105/"

    strings:
        $fetch_pipe = /(curl|wget)\s[^\n|]{1,300}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?(ba|da|z|k)?sh\b/
        $fetch_tmp = /(curl|wget)\s[^\n]{1,300}(-o|-O|--output|--output-document)[\s=]*['"]?\/(tmp|var\/tmp|dev\/shm)\//
        $fetch_chmod = /chmod\s+(\+x|[0-7]?7[0-7][0-7])\s/

        $kill_cmd = /(pkill|killall|kill\s+-(9|KILL)|xargs\s+(-r\s+)?kill)\s/

        $rival_kdev = "kdevt\x6dpfsi"
        $rival_kins = "kin\x73ing"
        $rival_xmr = "xm\x72ig"
        $rival_stak = "xmr-\x73tak"
        $rival_kworker = "kwor\x6berds"
        $rival_qw3 = "qW\x33xT"
        $rival_ddg = "dd\x67s"
        $rival_wbog = "watc\x68bog"
        $rival_dbus = "dbu\x73ed"
        $rival_kthread = "kthr\x65addi"
        $rival_sysupd = "sysu\x70date"
        $rival_netsvc = "network\x73ervice"
        $rival_sysgd = "sysg\x75ard"
        $rival_cpuminer = "min\x65rd"
        $rival_cn = "crypt\x6fnight"

        $persist_crontab = /\|\s*crontab\s+-[\s'");]/
        $persist_cronfile = />\s*\/(var\/spool\/cron|etc\/cron\.d\/|etc\/crontab)/
        $persist_chattr = "chat\x74r +i"
        $persist_chattr_ai = "chatt\x72 +ai"
        $persist_keys = />\s*(~|\$HOME|\/root)\/\.ssh\/authorized_keys/
        $evade_selinux = "setenf\x6frce 0"
        $evade_aegis = "/usr/loc\x61l/aegis"
        $evade_qcloud = "/usr/loc\x61l/qcloud"
        $evade_yunjing = "YDSe\x72vice"
        $evade_watchdog = "nmi_wa\x74chdog"
        $evade_history = "histo\x72y -c"

    condition:
        filesize < 2MB and
        uint32(0) != 0x464c457f and
        ($fetch_pipe or ($fetch_tmp and $fetch_chmod)) and
        $kill_cmd and
        2 of ($rival_*) and
        (any of ($persist_*) or any of ($evade_*))
}
