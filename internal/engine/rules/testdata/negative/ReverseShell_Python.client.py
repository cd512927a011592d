#!/usr/bin/env python3
# Near miss: a daemon that sends metrics over a socket, redirects its own
# stdout/stderr to a log file, and runs a fixed shell command.
import os
import socket
import subprocess

log = open("/var/log/agent.log", "ab", buffering=0)
os.dup2(log.fileno(), 1)
os.dup2(log.fileno(), 2)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("metrics.internal", 2003))
load = subprocess.run(["/bin/sh", "-c", "cut -d' ' -f1 /proc/loadavg"], capture_output=True).stdout
s.sendall(b"host.load " + load.strip() + b"\n")
s.close()
