/*
 * vigil built-in pack: PHP webshells.
 *
 * A PHP webshell hands attacker-supplied request data to something that
 * runs code or commands. The rules therefore look for that hand-over
 * itself, written as one expression (eval or assert of a request field,
 * system or exec of one, a request field called as a function, a callback
 * API or preg_replace /e fed from the request…), inside a file that opens
 * a PHP block. Legitimate PHP reads request data and uses eval, exec or
 * base64_decode all the time, but does not feed one into the other
 * directly. Regular expressions all start at, or contain, a literal of
 * four bytes or more so that libyara can use it as an atom.
 */

rule Webshell_PHP_Eval_Input
{
    meta:
        virus_name = "Php.Webshell.Generic"
        tags = "webshell,php"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现PHP网页后门（WebShell），该文件会将HTTP请求中的参数作为PHP代码执行（如使用eval、assert直接执行POST/GET/Cookie参数），攻击者可借此完全控制网站和主机。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "A PHP webshell was found: the file runs code taken from HTTP request parameters (for example eval or assert applied directly to POST, GET or cookie fields), which gives an attacker full control of the web site and the host. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查Web访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复网站上传、代码执行等漏洞，修改网站后台及数据库口令。"
        solution_en = "1. Back up and delete the file, then check the web root for other recently added or changed files.\n2. Search the web access logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload or code-execution flaw, and change the site's admin and database passwords."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $php_tag = "<?\x70hp"
        $php_tag_upper = "<?\x50HP"
        $php_echo = "<\x3f="
        $php_short_sp = "<\x3f "
        $php_short_nl = "<\x3f\n"
        $php_short_crlf = "<\x3f\r\n"

        $eval_direct = /(eval|assert)\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE|SERVER|FILES)\s*\[/ nocase
        $eval_decoded = /(eval|assert)\s*\(\s*@?\s*(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|urldecode|rawurldecode|stripslashes|trim)\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ nocase

        $tiny_eval = /(eval|assert)\s*\(/ nocase
        $tiny_input = /\$_(POST|GET|REQUEST|COOKIE)\s*\[/

    condition:
        filesize < 5MB and
        any of ($php_*) and
        (any of ($eval_*) or (filesize < 600 and $tiny_eval and $tiny_input))
}

rule Webshell_PHP_Exec_Input
{
    meta:
        virus_name = "Php.Webshell.Generic"
        tags = "webshell,php"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现PHP网页后门（WebShell），该文件会将HTTP请求中的参数作为系统命令执行（如使用system、passthru、shell_exec直接执行GET/POST参数），攻击者可借此在主机上执行任意命令。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "A PHP webshell was found: the file runs operating-system commands taken from HTTP request parameters (for example system, passthru or shell_exec applied directly to GET or POST fields), which lets an attacker run anything on the host. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查Web访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复网站上传、代码执行等漏洞，并在php.ini中通过disable_functions禁用不需要的命令执行函数。"
        solution_en = "1. Back up and delete the file, then check the web root for other recently added or changed files.\n2. Search the web access logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload or code-execution flaw and list unneeded command functions in php.ini's disable_functions."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $php_tag = "<?\x70hp"
        $php_tag_upper = "<?\x50HP"
        $php_echo = "<\x3f="
        $php_short_sp = "<\x3f "
        $php_short_nl = "<\x3f\n"
        $php_short_crlf = "<\x3f\r\n"

        $exec_call = /(system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*@?\s*((base64_decode|stripslashes|urldecode|rawurldecode|trim)\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $exec_backtick = /`\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[[^\]\n]{1,40}\]\s*`/

    condition:
        filesize < 5MB and
        any of ($php_*) and
        any of ($exec_*)
}

rule Webshell_PHP_Dynamic_Call
{
    meta:
        virus_name = "Php.Webshell.Generic"
        tags = "webshell,php"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现PHP网页后门（WebShell），该文件会调用由HTTP请求参数指定的函数（如把请求参数作为函数名调用、通过call_user_func等回调函数或preg_replace的/e修饰符执行请求参数），是“一句话木马”的常见变形。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "A PHP webshell was found: the file calls a function named by an HTTP request parameter (a request field called as a function, passed to a callback API such as call_user_func, or run through preg_replace with the /e modifier), a common disguise of one-line webshells. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查Web访问日志，定位访问该文件的来源IP和上传入口；\n3. 修复网站上传、代码执行等漏洞，修改网站后台及数据库口令。"
        solution_en = "1. Back up and delete the file, then check the web root for other recently added or changed files.\n2. Search the web access logs for the addresses that requested the file and for the upload that created it.\n3. Fix the upload or code-execution flaw, and change the site's admin and database passwords."
        reference = "https://attack.mitre.org/techniques/T1505/003/"

    strings:
        $php_tag = "<?\x70hp"
        $php_tag_upper = "<?\x50HP"
        $php_echo = "<\x3f="
        $php_short_sp = "<\x3f "
        $php_short_nl = "<\x3f\n"
        $php_short_crlf = "<\x3f\r\n"

        $call_input_fn = /\$_(POST|GET|REQUEST|COOKIE)\s*\[[^\]\n]{1,40}\]\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/
        $call_callback = /(call_user_func|call_user_func_array|array_map|array_filter|array_walk|usort|uasort|uksort|register_shutdown_function|register_tick_function|forward_static_call)\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/
        $call_preg_e = /preg_replace\s*\(\s*['"][^'"\n]{1,100}\/[imsxu]{0,4}e[imsxu]{0,4}['"]\s*,\s*@?\s*[^,\n]{0,80}\$_(POST|GET|REQUEST|COOKIE)/
        $call_create = /create_function\s*\(\s*(''|"")\s*,\s*@?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/

    condition:
        filesize < 5MB and
        any of ($php_*) and
        any of ($call_*)
}

rule Webshell_PHP_Obfuscated_Loader
{
    meta:
        virus_name = "Php.Webshell.Generic"
        tags = "webshell,php,obfuscated"
        risk_level = "RISK_HIGH"
        category = "Webshell"
        desc_zh = "发现经过混淆的PHP后门，该文件通过多层解码（如对base64_decode、gzinflate、str_rot13等函数的嵌套结果执行eval）隐藏并执行恶意代码，是网页后门和网站挂马的常见手法。若不是您的主动行为，您的网站可能已经被入侵。"
        desc_en = "An obfuscated PHP backdoor was found: the file hides its code behind nested decoders (eval applied to nested base64_decode, gzinflate or str_rot13 calls) and runs it, a common way to plant webshells and injected code. If you did not put it there yourself, the site has probably been compromised."
        solution_zh = "1. 立即备份后删除或还原该文件，并检查网站目录下其他最近被修改或新增的文件；\n2. 检查Web访问日志，定位上传或篡改该文件的入口；\n3. 修复网站漏洞，更新网站程序及插件，修改网站后台及数据库口令。"
        solution_en = "1. Back up the file, then delete it or restore the original, and check the web root for other recently added or changed files.\n2. Search the web access logs for the request that uploaded or changed it.\n3. Fix the flaw, update the application and its plugins, and change the site's admin and database passwords."
        reference = "https://attack.mitre.org/techniques/T1027/"

    strings:
        $php_tag = "<?\x70hp"
        $php_tag_upper = "<?\x50HP"
        $php_echo = "<\x3f="
        $php_short_sp = "<\x3f "
        $php_short_nl = "<\x3f\n"
        $php_short_crlf = "<\x3f\r\n"

        $chain = /(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|strrev|base64_decode|convert_uudecode)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|strrev|base64_decode|convert_uudecode)\s*\(/

    condition:
        filesize < 5MB and
        any of ($php_*) and
        $chain and
        not Webshell_PHP_Eval_Input
}
