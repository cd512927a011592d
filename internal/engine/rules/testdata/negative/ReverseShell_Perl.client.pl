#!/usr/bin/perl
# Near miss: a perl client that connects, sends a line, and then runs a fixed
# command; standard input is never wired to the socket.
use strict;
use Socket;
socket(my $s, PF_INET, SOCK_STREAM, getprotobyname("tcp")) or die;
connect($s, sockaddr_in(2003, inet_aton("127.0.0.1"))) or die;
print $s "ping\n";
close $s;
exec("/bin/sh", "-c", "logger sent");
