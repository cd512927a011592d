#!/bin/bash
# Near miss: an incident clean-up script. It kills the same miners a dropper
# kills and reinstalls an agent through curl | bash, but it removes cron
# entries and file locks instead of adding them.
pkill -9 -f kdevtmpfsi
pkill -9 -f kinsing
ps aux | grep -v grep | grep xmrig | awk '{print $2}' | xargs -r kill -9
chattr -i /tmp/kdevtmpfsi /var/spool/cron/root 2>/dev/null
rm -f /tmp/kdevtmpfsi /tmp/kinsing
crontab -r
curl -fsSL https://agent.example.com/install.sh | bash
