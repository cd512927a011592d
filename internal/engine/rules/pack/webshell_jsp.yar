/*
 * vigil built-in pack: JSP webshells.
 *
 * Two shapes cover most Java webshells: command execution fed by a
 * request parameter (Runtime.exec / ProcessBuilder), and the encrypted
 * "memory shell" loaders of the Behinder/Godzilla kind, which decode a
 * base64 (often AES-encrypted) class from the request and define it with
 * a custom ClassLoader. The loader rule requires a JSP directive or
 * declaration block, so ordinary Java sources and the JDK's own class
 * loaders never qualify.
 */

rule Webshell_JSP_Exec_Request
{
    meta:
        virus_name = "Jsp.Webshell.Generic"
        tags = "webshell,jsp"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现JSP网页后门（WebShell），该文件会将HTTP请求参数作为系统命令执行（如把request参数传给Runtime.exec或ProcessBuilder），攻击者可借此在主机上执行任意命令。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "A JSP webshell was found: the file runs operating-system commands taken from HTTP request parameters (for example a request parameter passed to Runtime.exec or ProcessBuilder), which lets an attacker run anything on the host. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查Web应用目录（如webapps）下其他最近被修改或新增的文件；\n2. 检查中间件访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复应用上传、反序列化等漏洞，并以低权限账号运行中间件。"
        solution_en = "1. Back up and delete the file, then check the application directories (such as webapps) for other recently added or changed files.\n2. Search the server's access logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload or deserialization flaw and run the application server under an unprivileged account."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $direct_runtime = /getRuntime\(\)\s*\.\s*exec\s*\(\s*request\s*\.\s*getParameter\s*\(/
        $direct_builder = /new\s+ProcessBuilder\s*\(\s*(new\s+String\s*\[\s*\]\s*\{\s*)?[^;\n]{0,80}request\s*\.\s*getParameter\s*\(/

        $jsp_directive = "<\x25@"
        $jsp_scriptlet_sp = "<\x25 "
        $jsp_scriptlet_nl = "<\x25\n"
        $jsp_scriptlet_crlf = "<\x25\r\n"
        $exec_runtime = "getRuntim\x65().exec("
        $exec_builder = "new Proce\x73sBuilder("
        $param = "request.ge\x74Parameter("
        $stream = "getInput\x53tream()"
        $shell_sh = "/bi\x6e/sh"
        $shell_bash = "/bin\x2fbash"
        $shell_cmd = "cmd\x2eexe"

    condition:
        filesize < 1MB and
        (
            any of ($direct_*) or
            (
                any of ($jsp_*) and
                any of ($exec_*) and
                $param and
                $stream and
                any of ($shell_*)
            )
        )
}

rule Webshell_JSP_ClassLoader
{
    meta:
        virus_name = "Jsp.Webshell.Generic"
        tags = "webshell,jsp,memshell"
        risk_level = "RISK_CRITICAL"
        category = "Webshell"
        desc_zh = "发现加密型JSP网页后门（类似冰蝎、哥斯拉），该文件会解密HTTP请求中的数据并通过自定义ClassLoader动态加载执行Java字节码，通信流量经过加密，隐蔽性强。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "An encrypted JSP webshell of the Behinder/Godzilla kind was found: the file decrypts data from the HTTP request and loads it as Java bytecode through its own ClassLoader, so its traffic is encrypted and hard to spot. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查Web应用目录下其他最近被修改或新增的文件；\n2. 该类后门可能已注入内存马，请在清理文件后重启中间件进程；\n3. 检查中间件访问日志定位入侵入口，修复应用漏洞并修改相关口令。"
        solution_en = "1. Back up and delete the file, then check the application directories for other recently added or changed files.\n2. Such shells often inject in-memory backdoors: restart the application server after removing the file.\n3. Search the access logs for the entry point, fix the flaw and change the related passwords."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $jsp_directive = "<\x25@"
        $jsp_declaration = "<\x25!"

        $loader_define = "define\x43lass("
        $loader_extends = "extends C\x6cassLoader"

        $b64_sun = "BASE64\x44ecoder"
        $b64_buffer = "decode\x42uffer("
        $b64_java8 = "Base64.ge\x74Decoder()"
        $b64_generic = "base64\x44ecode("

        $input_reader = "request.g\x65tReader()"
        $input_stream = "request.getI\x6eputStream()"
        $input_param = "request.ge\x74Parameter("

        $crypto_cipher = "Cipher.ge\x74Instance("
        $crypto_key = "SecretK\x65ySpec("
        $session_put = "session.\x70utValue("
        $session_set = "session.se\x74Attribute("
        $session_ctx = "pageC\x6fntext"

    condition:
        filesize < 1MB and
        any of ($jsp_*) and
        any of ($loader_*) and
        any of ($b64_*) and
        any of ($input_*) and
        (any of ($crypto_*) or any of ($session_*))
}
