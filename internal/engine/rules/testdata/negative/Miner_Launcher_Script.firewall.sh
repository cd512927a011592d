#!/bin/sh
# Near miss: blocks mining traffic; names the protocol and a pool but starts no miner.
iptables -A OUTPUT -p tcp -m string --string "stratum+tcp" --algo bm -j DROP
iptables -A OUTPUT -p tcp -d pool.supportxmr.com -j DROP
logger "mining pools blocked"
