<?php
// Near miss: callbacks and regexes on request data, all with fixed callees.
$tags = array_map('trim', explode(',', $_POST['tags'] ?? ''));
$actions = ['list' => 'listItems', 'show' => 'showItem'];
$action = $actions[$_GET['a'] ?? 'list'] ?? 'listItems';
call_user_func([new Controller(), $action], $tags);
$slug = preg_replace('/[^a-z0-9]+/i', '-', $_GET['title'] ?? '');
