#!/usr/bin/env bash
# Installs what the exporter's tests run besides Go: Debian's prometheus
# package (promtool to lint metric names and check the example scrape config
# and rules, prometheus to scrape the exporter on loopback) and chromium (the
# landing page's test); with "blackbox", prometheus-blackbox-exporter too, for
# scripts/exporter-bench.sh only.
#
#   prometheus.sh ensure           install what is missing (as root); exit 0
#                                  only when promtool, prometheus and chromium
#                                  are all there
#   prometheus.sh ensure blackbox  the same, and blackbox_exporter
#
# The packages' maintainer scripts would start system daemons (Prometheus on
# :9090, blackbox_exporter on :9115): a policy-rc.d that refuses every start
# stays in place for the install only, the standard way to install a service
# without running it. The tests run their own instances on loopback ports.
set -euo pipefail

programs=(promtool prometheus chromium)
packages=(prometheus chromium)
case "${1:-} ${2:-}" in
  "ensure ") ;;
  "ensure blackbox") programs+=(prometheus-blackbox-exporter); packages+=(prometheus-blackbox-exporter) ;;
  *) echo "usage: prometheus.sh ensure [blackbox]" >&2; exit 3 ;;
esac

missing() {
  local p
  for p in "${programs[@]}"; do
    command -v "$p" >/dev/null || echo "$p"
  done
}

if [ -n "$(missing)" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "prometheus.sh: missing $(missing | tr '\n' ' ')and not root to install them" >&2
    exit 1
  fi
  policy=/usr/sbin/policy-rc.d
  if [ -e "$policy" ]; then
    echo "prometheus.sh: $policy exists; leaving it as it is" >&2
  else
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null; }
fi
if [ -n "$(missing)" ]; then
  echo "prometheus.sh: still missing: $(missing | tr '\n' ' ')" >&2
  exit 1
fi
echo "ok: $(promtool --version 2>&1 | head -1); $(chromium --version 2>/dev/null)"
