#!/usr/bin/env bash
# Make a Docker engine answer on this machine (Debian): install docker.io,
# docker-compose (v1) and debootstrap when missing, start dockerd in the
# background, wait for `docker info`. Idempotent: does nothing when an engine
# already answers.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "ensure-docker: engine already answers"
  exit 0
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "ensure-docker: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! pgrep -x dockerd >/dev/null; then
  echo "ensure-docker: starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "ensure-docker: engine up"
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
