<?php
// Near miss: runs a fixed program on an escaped upload path.
$tmp = $_FILES['img']['tmp_name'];
$out = __DIR__ . '/thumbs/' . basename($tmp) . '.jpg';
exec('convert ' . escapeshellarg($tmp) . ' -resize 128x128 ' . escapeshellarg($out), $lines, $rc);
system('logger thumbnail-created');
echo $rc === 0 ? 'ok' : 'failed';
