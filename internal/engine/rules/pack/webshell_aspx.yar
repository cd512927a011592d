/*
 * vigil built-in pack: ASP.NET (and classic ASP) webshells.
 *
 * The China-Chopper style one-liner evaluates a request field as JScript
 * or VBScript code; larger ASPX shells start the Windows command
 * interpreter or PowerShell with a request field, or load a base64-encoded
 * .NET assembly sent in the request (the Behinder/Godzilla way). Every rule
 * needs a server-side ASP tag or a runat attribute for the server, so
 * client-side JavaScript never qualifies.
 */

rule Webshell_ASPX_Eval_Request
{
    meta:
        virus_name = "Aspx.Webshell.Generic"
        tags = "webshell,aspx"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现ASP/ASPX网页后门（WebShell），该文件会将HTTP请求中的参数作为脚本代码执行（如eval执行Request.Item中的参数，即“中国菜刀”类一句话木马），攻击者可借此完全控制网站和主机。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "An ASP/ASPX webshell was found: the file evaluates HTTP request parameters as script code (for example eval on a Request.Item field, the China Chopper one-liner), which gives an attacker full control of the web site and the host. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查IIS等Web访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复网站上传漏洞，禁止上传目录的脚本执行权限，修改网站后台及数据库口令。"
        solution_en = "1. Back up and delete the file, then check the web root for other recently added or changed files.\n2. Search the IIS or web server logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload flaw, deny script execution in upload directories, and change the site's admin and database passwords."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $asp_directive = "<\x25@"
        $asp_eval = "<%e\x76al"
        $asp_eval_title = "<%Ev\x61l"
        $asp_eval_upper = "<%E\x56AL"
        $asp_execute = "<%ex\x65cute"
        $asp_execute_title = "<%Ex\x65cute"
        $asp_execute_upper = "<%EX\x45CUTE"
        $asp_open_sp = "<\x25 "
        $asp_runat = "runat=\"\x73erver\""
        $asp_runat_title = "runat=\"\x53erver\""

        $eval_request = /eval\s*[\(\s]\s*Request(\.Item|\.Form|\.QueryString|\.Params)?\s*[\[\(]/ nocase
        $execute_request = /execute(global)?\s*[\(\s]\s*Request(\.Item|\.Form|\.QueryString|\.Params)?\s*[\[\(]/ nocase

    condition:
        filesize < 1MB and
        any of ($asp_*) and
        ($eval_request or $execute_request)
}

rule Webshell_ASPX_Process_Request
{
    meta:
        virus_name = "Aspx.Webshell.Generic"
        tags = "webshell,aspx"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现ASPX网页后门（WebShell），该文件会以HTTP请求参数启动cmd或PowerShell进程，或加载请求中经Base64编码的.NET程序集（类似冰蝎、哥斯拉），攻击者可借此在主机上执行任意命令。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "An ASPX webshell was found: the file starts cmd or PowerShell with HTTP request parameters, or loads a base64-encoded .NET assembly sent in the request (as Behinder and Godzilla do), which lets an attacker run anything on the host. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查IIS等Web访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复网站上传漏洞，以低权限账号运行应用程序池。"
        solution_en = "1. Back up and delete the file, then check the web root for other recently added or changed files.\n2. Search the IIS or web server logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload flaw and run the application pool under an unprivileged account."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $aspx_page = "<\x25@ Page"
        $aspx_page_lower = "<\x25@ page"
        $aspx_page_nospace = "<\x25@Page"
        $aspx_runat = "runat=\"\x73erver\""
        $aspx_runat_title = "runat=\"\x53erver\""

        $request = /Request(\.Form|\.QueryString|\.Item|\.Params)?\s*\[\s*["']/

        $proc_start = "Process\x2eStart("
        $proc_info = "ProcessS\x74artInfo"
        $shell_cmd = "cmd\x2eexe"
        $shell_cmd_upper = "CMD\x2eEXE"
        $shell_ps = "power\x73hell"
        $shell_ps_title = "Power\x53hell"
        $shell_sh = "/bi\x6e/sh"

        $asm_load = "Assembl\x79.Load("
        $asm_b64 = "Convert.From\x42ase64String("
        $asm_create = "CreateI\x6estance("

    condition:
        filesize < 1MB and
        any of ($aspx_*) and
        $request and
        (
            (any of ($proc_*) and any of ($shell_*)) or
            all of ($asm_*)
        )
}
