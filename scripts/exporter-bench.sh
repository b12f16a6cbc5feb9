#!/usr/bin/env bash
# Sets starttls-probe serve beside blackbox_exporter 0.23 (Debian's
# prometheus-blackbox-exporter, its example smtp_starttls module) on the same
# loopback mail servers: correctness on 16 server behaviours, probes per
# second and p99 at 50 concurrent scrapes, RSS; then a soak of starttls-probe
# serve (20,000 probes of every behaviour; goroutines, open files and RSS
# must end where they started). Figures go to README.md's exporter section.
#
#   scripts/exporter-bench.sh                 defaults
#   scripts/exporter-bench.sh -soak 5000      any flag of scripts/exporterbench
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus-blackbox-exporter >/dev/null || scripts/examples/prometheus.sh ensure blackbox
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
bin=$(mktemp -d)/starttls-probe
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
echo "== $(go version), $(nproc) CPUs, $(prometheus-blackbox-exporter --version 2>&1 | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
go run ./scripts/exporterbench -binary "$bin" "$@"
