#!/bin/bash
# Near miss: container health check using bash's /dev/tcp; no shell is wired
# to the connection.
host=${1:-127.0.0.1}
port=${2:-8080}
if ! timeout 2 bash -c "</dev/tcp/${host}/${port}" 2>/dev/null; then
    echo "port ${port} closed" >&2
    exit 1
fi
exec 3<>/dev/tcp/${host}/${port}
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
timeout 2 cat <&3 | head -1 | grep -q ' 200 '
exec 3>&-
echo > /dev/tcp/127.0.0.1/9999 && echo "metrics port open"
