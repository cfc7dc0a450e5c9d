#!/usr/bin/env bash
# Prometheus and Alertmanager for the bundled Prometheus control
# (harness/controls/prometheus.py, experiments/knight-2012-prometheus*.yaml),
# and docker-registry for a multi-node swarm's images (harness/backends/swarm/
# registry.py): Debian's packages, installed only when a binary is missing.
# Idempotent. Without them those experiments are refused at validate time, with
# that reason (a multi-node swarm without a registry is refused at `up`), and
# everything else runs.
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || need+=(prometheus-alertmanager)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ "${#need[@]}" -eq 0 ]; then
  echo "ensure-prometheus: prometheus, alertmanager and docker-registry already installed"
  exit 0
fi
echo "ensure-prometheus: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# no recommends: the node exporter and friends are not needed; the harness starts its own
# processes on free loopback ports, so a packaged service (where an init starts one) is harmless
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
prometheus --version 2>&1 | head -1
prometheus-alertmanager --version 2>&1 | head -1
