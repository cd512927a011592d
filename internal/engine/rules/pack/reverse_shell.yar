/*
 * vigil built-in pack: reverse-shell scripts and one-liners.
 *
 * A reverse shell is a network connection wired to a shell's standard
 * input and output. Opening a connection is normal (health checks write to
 * bash's /dev/tcp, scripts use nc and sockets), and so is starting a shell;
 * the rules only fire where the two are joined: an interactive shell
 * redirected to /dev/tcp, netcat's -e option naming a shell, a mkfifo loop
 * piping sh into nc, dup2() of a socket onto fds 0-2 followed by a shell,
 * socat joining an exec address that runs a shell to a tcp address. Regexes all contain a literal of four bytes or more
 * (/dev/tcp, mkfifo, socat, dup2, fsockopen) from which libyara takes its
 * atom.
 */

rule ReverseShell_Bash
{
    meta:
        virus_name = "Linux.ReverseShell.Bash"
        tags = "reverse_shell,bash"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现Bash反弹Shell命令，该命令会将交互式Shell的输入输出重定向到远程主机的TCP连接（如bash -i的输入输出重定向到/dev/tcp），攻击者可借此远程控制主机。若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A bash reverse shell was found: it redirects an interactive shell's input and output to a TCP connection to a remote host (for example bash -i with its input and output redirected to /dev/tcp), which gives an attacker remote control of the host. If you did not write it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的Shell进程及可疑网络连接（可用ss -antp排查）；\n2. 检查crontab、systemd服务、/etc/profile、~/.bashrc等位置是否存在调用该命令的持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the file and kill the shell processes and suspicious connections it created (ss -antp shows them).\n2. Check crontab, systemd units, /etc/profile and ~/.bashrc for persistence that runs the command.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1059/004/"

    strings:
        $interactive = /(ba|da|z|k)?sh\s+-[il]{1,2}\s*([0-9]?>&?|&>|<>)\s*\/dev\/(tcp|udp)\/[\w.\-\$\{\}]{1,255}\/[\w\$\{\}]{1,16}/
        $stdin_dup = /\/dev\/(tcp|udp)\/[\w.\-\$\{\}]{1,255}\/[\w\$\{\}]{1,16}\s*['"]?\s*0\s*(>&|<&)\s*1/
        $fd_shell = /\/dev\/(tcp|udp)\/[\w.\-\$\{\}]{1,255}\/[\w\$\{\}]{1,16}\s*;\s*(\/bin\/)?(ba|da|z|k)?sh\s+<&\s*[0-9]{1,3}/
        $fd_loop = /exec\s+[0-9]{1,3}\s*<>\s*\/dev\/(tcp|udp)\/[^\x00]{1,300}while\s+read\s+\w{1,20}\s*;\s*do\s+\$/
        $stdin_from = /(ba|da|z|k)?sh\s+(-[il]{1,2}\s+)?[0-9]?<\s*\/dev\/(tcp|udp)\/[\w.\-\$\{\}]{1,255}\/[\w\$\{\}]{1,16}\s*[0-9]?>&/

    condition:
        filesize < 2MB and
        uint32(0) != 0x464c457f and
        any of them
}

rule ReverseShell_Netcat
{
    meta:
        virus_name = "Linux.ReverseShell.Netcat"
        tags = "reverse_shell,netcat"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现基于nc/ncat/telnet的反弹Shell命令，该命令会将/bin/sh绑定到远程主机的网络连接（如nc的-e参数执行Shell、mkfifo管道配合nc），攻击者可借此远程控制主机。若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A netcat-style reverse shell was found: it binds /bin/sh to a network connection to a remote host (for example nc running a shell through its -e option, or a mkfifo pipe between sh and nc), which gives an attacker remote control of the host. If you did not write it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的nc、sh进程及可疑网络连接；\n2. 检查crontab、systemd服务、rc.local等位置是否存在调用该命令的持久化项，并删除/tmp等目录下残留的管道文件；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the file and kill the nc and sh processes and suspicious connections it created.\n2. Check crontab, systemd units and rc.local for persistence that runs the command, and remove leftover FIFOs in /tmp.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1059/004/"

    strings:
        $nc_exec = /\bn(c|cat|etcat)(\.traditional|\.openbsd)?\s([^\n|;&]{0,120}\s)?-[a-z]{0,3}[ec]\s*['"]?\/bin\/(ba|da|z|k)?sh\b/
        $ncat_exec = /\bncat\s[^\n|;&]{0,120}--(exec|sh-exec)[\s=]['"]?(\/bin\/)?(ba|da|z|k)?sh\b/
        $fifo_pipe = /mkfifo\s[^\n]{1,200}sh(\s+-i)?[^\n|]{0,60}\|\s*(nc|ncat|netcat|telnet|openssl\s+s_client)\s/
        $mknod_pipe = /mknod\s+[^\n]{1,100}\sp\s*[;&|][^\n]{0,200}(nc|ncat|netcat|telnet)\s[^\n]{1,200}\|\s*(\/bin\/)?(ba|da|z|k)?sh\b/

    condition:
        filesize < 2MB and
        uint32(0) != 0x464c457f and
        any of them
}

rule ReverseShell_Python
{
    meta:
        virus_name = "Linux.ReverseShell.Python"
        tags = "reverse_shell,python"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现Python反弹Shell脚本，该脚本连接远程主机后通过os.dup2将套接字复制为标准输入输出，再启动/bin/sh或pty.spawn交互式Shell，攻击者可借此远程控制主机。若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A Python reverse shell was found: after connecting to a remote host it copies the socket onto standard input and output with os.dup2 and starts /bin/sh or a pty.spawn shell, which gives an attacker remote control of the host. If you did not write it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的python、sh进程及可疑网络连接；\n2. 检查crontab、systemd服务、rc.local等位置是否存在调用该脚本的持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the file and kill the python and sh processes and suspicious connections it created.\n2. Check crontab, systemd units and rc.local for persistence that runs the script.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1059/006/"

    strings:
        $connect = /\.connect\(\s*\(\s*[\w.\-'"]{1,255}\s*,\s*[\w'"]{1,16}\s*\)\s*\)/
        $dup2_stdin = /dup2\(\s*[\w.]{1,30}\.fileno\(\)\s*,\s*0\s*\)/
        $dup2_loop = /dup2\(\s*[\w.]{1,30}\.fileno\(\)\s*,\s*\w{1,10}\s*\)\s*for\s+\w{1,10}\s+in\s*[\(\[]\s*0\s*,\s*1\s*,\s*2/
        $shell_pty = /pty\.spawn\(\s*['"](\/bin\/)?(ba|da|z|k)?sh['"]/
        $shell_subprocess = /subprocess\.(call|Popen|run|check_call)\(\s*\[\s*['"](\/bin\/)?(ba|da|z|k)?sh['"]/
        $shell_os = /os\.(system|execl|execlp|execv|execvp|spawnl)\(\s*['"](\/bin\/)?(ba|da|z|k)?sh['"]/

    condition:
        filesize < 256KB and
        uint32(0) != 0x464c457f and
        $connect and
        any of ($dup2_*) and
        any of ($shell_*)
}

rule ReverseShell_Perl
{
    meta:
        virus_name = "Linux.ReverseShell.Perl"
        tags = "reverse_shell,perl"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现Perl反弹Shell脚本，该脚本连接远程主机后将STDIN/STDOUT/STDERR重定向到套接字并执行/bin/sh，攻击者可借此远程控制主机。若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A Perl reverse shell was found: after connecting to a remote host it redirects STDIN, STDOUT and STDERR to the socket and runs /bin/sh, which gives an attacker remote control of the host. If you did not write it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的perl、sh进程及可疑网络连接；\n2. 检查crontab、systemd服务、rc.local等位置是否存在调用该脚本的持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the file and kill the perl and sh processes and suspicious connections it created.\n2. Check crontab, systemd units and rc.local for persistence that runs the script.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1059/"

    strings:
        $sock = /socket\s*\(\s*\w{1,20}\s*,\s*(PF|AF)_INET\s*,\s*SOCK_STREAM/
        $connect = /connect\s*\(\s*\w{1,20}\s*,\s*sockaddr_in\s*\(/
        $stdin_dup = /open\s*\(\s*STDIN\s*,\s*['"][<>+]{0,2}&/
        $exec_shell = /exec\s*[\(\s]\s*(\{\s*)?['"]\/bin\/(ba|da|z|k)?sh\b/

        $io_socket = "IO::Sock\x65t::INET"
        $io_fdopen = /STDIN->fdopen\(\s*\$\w{1,20}\s*,\s*['"]?r/
        $io_loop = /system\s*\$_\s+while\s*<>/

    condition:
        filesize < 256KB and
        uint32(0) != 0x464c457f and
        (
            ($sock and $connect and $stdin_dup and $exec_shell) or
            ($io_socket and $io_fdopen and ($io_loop or $exec_shell))
        )
}

rule ReverseShell_Socat
{
    meta:
        virus_name = "Linux.ReverseShell.Socat"
        tags = "reverse_shell,socat"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现socat反弹Shell命令，该命令将exec:/bin/sh与指向远程主机的TCP连接相连，攻击者可借此获得带伪终端的交互式Shell并远程控制主机。若不是您的主动行为，您的主机可能已经失陷。"
        desc_en = "A socat reverse shell was found: it joins exec:/bin/sh to a TCP connection to a remote host, which gives an attacker an interactive shell with a pseudo-terminal and remote control of the host. If you did not write it yourself, the host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的socat、sh进程及可疑网络连接；\n2. 检查crontab、systemd服务、rc.local等位置是否存在调用该命令的持久化项；\n3. 排查入侵途径，修改弱口令并修复漏洞。"
        solution_en = "1. Delete the file and kill the socat and sh processes and suspicious connections it created.\n2. Check crontab, systemd units and rc.local for persistence that runs the command.\n3. Find how the attacker got in, change weak passwords and patch the vulnerable service."
        reference = "https://attack.mitre.org/techniques/T1059/004/"

    strings:
        $exec_then_tcp = /socat\s[^\n]{0,200}(exec|system):['"]?(\/bin\/)?(ba|da|z|k)?sh\b[^\n]{0,200}\stcp[46]?(-connect)?:[\w.\-\$\{\}]{1,255}:[\w\$\{\}]{1,16}/ nocase
        $tcp_then_exec = /socat\s[^\n]{0,200}tcp[46]?(-connect)?:[\w.\-\$\{\}]{1,255}:[\w\$\{\}]{1,16}[^\n]{0,200}\s(exec|system):['"]?(\/bin\/)?(ba|da|z|k)?sh\b/ nocase

    condition:
        filesize < 2MB and
        uint32(0) != 0x464c457f and
        any of them
}

rule ReverseShell_PHP
{
    meta:
        virus_name = "Php.ReverseShell.Generic"
        tags = "reverse_shell,php"
        risk_level = "RISK_HIGH"
        category = "ReverseShell"
        desc_zh = "发现PHP反弹Shell脚本，该脚本通过fsockopen连接远程主机并将/bin/sh的输入输出绑定到该连接，攻击者可借此远程控制主机。若不是您的主动行为，您的网站或主机可能已经被入侵。"
        desc_en = "A PHP reverse shell was found: it connects to a remote host with fsockopen and binds the input and output of /bin/sh to that connection, which gives an attacker remote control of the host. If you did not write it yourself, the site or host has probably been compromised."
        solution_zh = "1. 删除该文件，结束相关的php、sh进程及可疑网络连接；\n2. 检查网站目录下其他最近被修改或新增的文件及Web访问日志，定位上传入口；\n3. 修复网站漏洞，并在php.ini中通过disable_functions禁用不需要的命令执行函数。"
        solution_en = "1. Delete the file and kill the php and sh processes and suspicious connections it created.\n2. Check the web root for other recently added or changed files and search the access logs for the upload.\n3. Fix the flaw and list unneeded command functions in php.ini's disable_functions."
        reference = "https://attack.mitre.org/techniques/T1059/"

    strings:
        $fsockopen = "fsock\x6fpen("
        $exec_fd = /(exec|shell_exec|system|passthru|popen|proc_open)\s*\(\s*['"](\/bin\/)?(ba|da|z|k)?sh\s+-i\s*<&\s*[0-9]/
        $shell_i = /['"](\/bin\/)?(ba|da|z|k)?sh\s+-i['"]/
        $proc_open = "proc_\x6fpen("
        $select = "stream_\x73elect("

    condition:
        filesize < 512KB and
        uint32(0) != 0x464c457f and
        $fsockopen and
        ($exec_fd or ($shell_i and $proc_open and $select))
}
