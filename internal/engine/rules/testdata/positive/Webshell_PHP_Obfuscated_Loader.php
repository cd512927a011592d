<?php
/* test sample: nested decoder loader; the payload is the harmless string "echo 1;" */
eval(gzinflate(base64_decode('S01OzlcwVLQGAA==')));
?>
