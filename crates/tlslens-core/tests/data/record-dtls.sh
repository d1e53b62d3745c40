#!/bin/sh
# $1 name, $2 version flag, $3 port, $4 extra server flags, $5 cipher
set -u
name=$1; ver=$2; port=$3; extra=$4; cipher=$5
rm -f $name.pcapng $name.keys
dumpcap -q -i lo -f "udp port $port" -w $name.pcapng >/dev/null 2>&1 &
dp=$!
sleep 1.5
(sleep 3; printf 'server hello over dtls\n'; sleep 3) | openssl s_server $ver -accept 127.0.0.1:$port -cert cert.pem -key key.pem -mtu 300 $extra -cipher "$cipher" -keylogfile $name.keys >srv.$name.log 2>&1 &
sp=$!
sleep 1
(sleep 1.5; printf 'client says hi\n'; sleep 4) | openssl s_client $ver -connect 127.0.0.1:$port -mtu 300 -cipher "$cipher" -keylogfile $name.keys >cli.$name.log 2>&1
sleep 1
kill $sp 2>/dev/null
sleep 1
kill $dp
wait $dp 2>/dev/null
ls -la $name.pcapng $name.keys
