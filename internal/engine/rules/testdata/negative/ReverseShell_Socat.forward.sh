#!/bin/sh
# Near miss: socat as a port forwarder and a docker socket client.
socat TCP-LISTEN:8080,fork,reuseaddr TCP:backend.internal:80 &
echo -e "GET /info HTTP/1.0\r\n" | socat - UNIX-CONNECT:/var/run/docker.sock
