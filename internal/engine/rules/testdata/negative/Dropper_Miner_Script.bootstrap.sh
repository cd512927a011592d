#!/bin/sh
# Near miss: a provisioning script with curl | sh, cron and a kill, naming one
# miner in a comment.
curl -fsSL https://get.docker.com | sh
(crontab -l 2>/dev/null; echo "0 3 * * * /usr/local/bin/backup.sh") | crontab -
# make sure the old xmrig benchmark from the lab image is gone
pkill -f xmrig || true
pkill -f old-agent || true
