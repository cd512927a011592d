<?php
// Near miss: a plain HTTP client built on fsockopen.
$fp = fsockopen("example.org", 80, $errno, $errstr, 5);
fwrite($fp, "GET / HTTP/1.0\r\nHost: example.org\r\n\r\n");
while (!feof($fp)) { echo fgets($fp, 1024); }
fclose($fp);
exec('/usr/bin/logger fetched', $out);
