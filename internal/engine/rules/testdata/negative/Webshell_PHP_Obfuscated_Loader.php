<?php
// Near miss: decompresses a bundled data blob; nothing is evaluated.
$blob = file_get_contents(__DIR__ . '/data/countries.bin');
$countries = json_decode(gzinflate(base64_decode($blob)), true);
echo count($countries);
