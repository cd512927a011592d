/*
 * vigil built-in pack: crypto-currency miners.
 *
 * Miners are judged on what only a miner carries: the XMRig command-line
 * vocabulary (its donation, huge-page and thread-hint options), the
 * stratum mining protocol's method names, hash algorithm names, and pool
 * URLs. Every rule needs several of these together, and the binary rules
 * also need an executable header, so a package list or a document that
 * merely names a miner is not reported.
 */

rule Miner_Xmrig_Binary
{
    meta:
        virus_name = "Linux.Miner.Xmrig"
        tags = "miner,xmrig"
        risk_level = "RISK_HIGH"
        category = "Miner"
        desc_zh = "发现主机上存在XMRig挖矿程序。挖矿木马会长期占用大量CPU资源，影响业务正常运行；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "An XMRig crypto-currency miner was found on the host. Mining malware keeps the CPU busy and degrades your services; if you did not install it yourself, the host has probably been compromised."
        solution_zh = "1. 立即结束挖矿进程并删除该文件；\n2. 检查并清理crontab、systemd服务、rc.local、/etc/profile.d等位置的恶意持久化项；\n3. 排查主机是否存在弱口令或未修复的漏洞，修改所有账号密码并修复入侵途径。"
        solution_en = "1. Kill the mining process and delete the file.\n2. Remove malicious persistence from crontab, systemd units, rc.local and /etc/profile.d.\n3. Look for weak passwords or unpatched services that let the attacker in, change all account passwords and close the hole."
        reference = "https://attack.mitre.org/techniques/T1496/"

    strings:
        $name_a = "XM\x52ig"
        $name_b = "xm\x72ig"

        $opt_donate = "donate\x2dlevel"
        $opt_donate_proxy = "donate-o\x76er-proxy"
        $opt_1gb = "rand\x6fmx-1gb-pages"
        $opt_hint = "cpu-max-th\x72eads-hint"
        $opt_jit = "huge-pa\x67es-jit"
        $opt_priority = "cpu-pr\x69ority"

        $algo_cn = "crypt\x6fnight"
        $algo_rx_a = "Ran\x64omX"
        $algo_rx_b = "ran\x64omx"
        $algo_rx0 = "rx\x2f0"
        $algo_argon = "argon2\x2fchukwa"
        $proto_tcp = "stratum\x2btcp://"
        $proto_ssl = "stratum\x2bssl://"
        $proto_keepalive = "keepa\x6cived"

    condition:
        (uint32(0) == 0x464c457f or uint16(0) == 0x5a4d or uint32(0) == 0xfeedfacf) and
        filesize < 40MB and
        any of ($name_*) and
        2 of ($opt_*) and
        2 of ($algo_*, $proto_*)
}

rule Miner_Stratum_Generic
{
    meta:
        virus_name = "Linux.Miner.Generic"
        tags = "miner,stratum"
        risk_level = "RISK_HIGH"
        category = "Miner"
        desc_zh = "发现主机上存在使用Stratum矿池协议的挖矿程序。挖矿木马会长期占用大量CPU/GPU资源，影响业务正常运行；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A crypto-currency miner that speaks the stratum pool protocol was found on the host. Mining malware keeps the CPU or GPU busy and degrades your services; if you did not install it yourself, the host has probably been compromised."
        solution_zh = "1. 立即结束挖矿进程并删除该文件；\n2. 检查并清理crontab、systemd服务、rc.local等位置的恶意持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Kill the mining process and delete the file.\n2. Remove malicious persistence from crontab, systemd units and rc.local.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1496/"

    strings:
        $url_tcp = "stratum\x2btcp://"
        $url_ssl = "stratum\x2bssl://"
        $url_tls = "stratum\x2btls://"

        $method_subscribe = "mining.s\x75bscribe"
        $method_authorize = "mining.a\x75thorize"
        $method_notify = "mining\x2enotify"
        $method_submit = "mining\x2esubmit"
        $method_difficulty = "mining.set\x5fdifficulty"

        $algo_cn = "crypt\x6fnight"
        $algo_rx = "ran\x64omx"
        $algo_eth = "eth\x61sh"
        $algo_kaw = "kaw\x70ow"
        $algo_equi = "equi\x68ash"
        $algo_yes = "yesc\x72ypt"
        $algo_lyra = "ly\x72a2"
        $algo_x16r = "x16\x72v2"
        $algo_sha = "sha\x3256d"

    condition:
        (uint32(0) == 0x464c457f or uint16(0) == 0x5a4d or uint32(0) == 0xfeedfacf) and
        filesize < 60MB and
        any of ($url_*) and
        3 of ($method_*) and
        any of ($algo_*) and
        not Miner_Xmrig_Binary
}

rule Miner_Xmrig_Config
{
    meta:
        virus_name = "Linux.Miner.Config"
        tags = "miner,xmrig,config"
        risk_level = "RISK_HIGH"
        category = "Miner"
        desc_zh = "发现主机上存在XMRig挖矿程序的配置文件，其中包含矿池地址和钱包账号。该文件通常与挖矿木马一同投放；若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "An XMRig miner configuration file with pool addresses and a wallet account was found. Such files are dropped together with mining malware; if you did not create it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该配置文件，并在同目录及/tmp、/var/tmp、/dev/shm等目录中查找并删除挖矿程序；\n2. 结束相关挖矿进程，清理crontab、systemd服务等持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the configuration file and look for the miner binary next to it and in /tmp, /var/tmp and /dev/shm.\n2. Kill the mining process and remove persistence from crontab and systemd units.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."

    strings:
        $json_pools = "\"po\x6fls\""
        $json_url = "\"u\x72l\""
        $json_user = "\"us\x65r\""

        $key_donate = "\"donate\x2dlevel\""
        $key_hugepages = "\"huge-\x70ages\""
        $key_rigid = "\"rig\x2did\""
        $key_1gb = "\"1gb-\x70ages\""

        $cfg_rx = "\"ran\x64omx\""
        $cfg_algo = "\"al\x67o\""
        $cfg_coin = "\"co\x69n\""
        $cfg_nicehash = "\"nice\x68ash\""
        $cfg_keepalive = "\"keep\x61live\""
        $cfg_maxthreads = "\"max-thre\x61ds-hint\""
        $cfg_tls = "\"tls-fin\x67erprint\""

    condition:
        filesize < 256KB and
        uint32(0) != 0x464c457f and
        all of ($json_*) and
        any of ($key_*) and
        3 of ($cfg_*)
}

rule Miner_Launcher_Script
{
    meta:
        virus_name = "Linux.Miner.Launcher"
        tags = "miner,script"
        risk_level = "RISK_HIGH"
        category = "Miner"
        desc_zh = "发现主机上存在启动挖矿程序的脚本或服务文件，其中包含矿池地址和挖矿参数。若不是您的主动行为，您的主机可能已经失陷并被用于挖矿。"
        desc_en = "A script or service file that starts a crypto-currency miner with a mining pool address was found. If you did not create it yourself, the host has probably been compromised and is being used for mining."
        solution_zh = "1. 删除该脚本或服务文件，结束其启动的挖矿进程并删除挖矿程序；\n2. 检查并清理crontab、systemd服务、rc.local等位置的恶意持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the script or unit file, kill the miner it started and delete the miner binary.\n2. Remove malicious persistence from crontab, systemd units and rc.local.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1496/"

    strings:
        $start_shebang = "#\x21"
        $start_unit = "ExecS\x74art="
        $start_background = "noh\x75p "

        $pool_tcp = "stratum\x2btcp://"
        $pool_ssl = "stratum\x2bssl://"
        $pool_stratum2 = "stratum\x32+tcp://"
        $pool_supportxmr = "support\x78mr.com"
        $pool_moneroocean = "monerooce\x61n.stream"
        $pool_c3pool = "c3poo\x6c.com"
        $pool_nanopool = "nanopo\x6fl.org"
        $pool_hashvault = "hashva\x75lt.pro"
        $pool_minexmr = "minex\x6dr.com"
        $pool_herominers = "heromin\x65rs.com"
        $pool_unmineable = "unminea\x62le.com"
        $pool_2miners = "2mine\x72s.com"
        $pool_f2pool = "f2poo\x6c.com"

        $opt_donate = "--donat\x65-level"
        $opt_priority = "--cpu-p\x72iority"
        $opt_1gb = "--rand\x6fmx-1gb-pages"
        $opt_maxcpu = "--max-c\x70u-usage"
        $opt_hint = "--cpu-max-t\x68reads-hint"
        $opt_rx0_short = "-a rx\x2f0"
        $opt_rx0_long = "--algo=rx\x2f0"
        $opt_cn_short = "-a cryp\x74onight"
        $opt_cn_long = "--algo=cr\x79ptonight"
        $opt_coin = "--coin\x3dmonero"
        $opt_nicehash = "--nic\x65hash"

    condition:
        filesize < 512KB and
        uint32(0) != 0x464c457f and
        ($start_shebang at 0 or $start_unit or $start_background) and
        any of ($pool_*) and
        any of ($opt_*)
}
