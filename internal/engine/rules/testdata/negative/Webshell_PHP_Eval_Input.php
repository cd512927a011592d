<?php
// Near miss: a normal form handler. It reads request data, decodes an upload
// and has an eval() for a cached config array, but never evaluates input.
declare(strict_types=1);

$config = eval('return ' . file_get_contents(__DIR__ . '/cache/config.php') . ';');

$name = htmlspecialchars($_POST['name'] ?? '', ENT_QUOTES, 'UTF-8');
$avatar = base64_decode($_POST['avatar'] ?? '', true);
if ($avatar !== false) {
    file_put_contents(__DIR__ . '/uploads/' . bin2hex(random_bytes(8)) . '.png', $avatar);
}
$page = (int)($_GET['page'] ?? 1);
printf("<p>Hello %s, page %d of %d</p>\n", $name, $page, $config['pages']);
