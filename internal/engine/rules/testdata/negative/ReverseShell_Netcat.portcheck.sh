#!/bin/sh
# Near miss: netcat and a FIFO used for port checks and log shipping.
nc -z -w 2 db.internal 5432 || exit 1
mkfifo /run/app/log.pipe
tee -a /var/log/app.log < /run/app/log.pipe | nc -q 1 logs.internal 514 &
nc -l -p 9000 > /var/backups/incoming.tar
