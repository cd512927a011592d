<?php echo 'Hi ' . htmlspecialchars($_GET['n'] ?? 'you'); ?>
