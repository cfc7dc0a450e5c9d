#!/bin/bash
# Container healthcheck: exit 0 when GET PATH on 127.0.0.1:PORT answers 200.
# bash's /dev/tcp, so it needs no curl in the image and costs a fork, not a
# Python start-up, every interval.
# usage: http-ok PORT PATH
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
read -r -t 3 status <&3 || exit 1
[[ "$status" == *" 200 "* ]]
