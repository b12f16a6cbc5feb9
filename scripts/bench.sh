#!/usr/bin/env bash
# Measures starttls-probe on loopback in one run: 1,000 STARTTLS endpoints
# served by probetest, the ceiling (a minimal Go STARTTLS client at the same
# concurrency), the openssl s_client loop (and posttls-finger if installed),
# and one host with three ports against one port. Figures go to README.md's
# "Performance" section.
#
#   scripts/bench.sh                      defaults: 1000 endpoints, concurrency 64
#   scripts/bench.sh -concurrency 128     any flag of scripts/bench
#   scripts/bench.sh -scan                --tls-scan against sslscan and
#                                         testssl.sh -p -E -S (Debian packages
#                                         sslscan, testssl.sh) on one server
#
# For a profile of the probe itself:
#   go test ./probe -run '^$' -bench . -cpuprofile cpu.prof && go tool pprof -top probe.test cpu.prof
set -euo pipefail
cd "$(dirname "$0")/.."

# Each endpoint holds a client and a server socket at once, plus the
# TLS-required test's second connection: raise the descriptor limit as far
# as the hard limit allows.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

bin=$(mktemp -d)/starttls-probe
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
echo "== $(go version), $(nproc) CPUs, ulimit -n $(ulimit -n), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
go run ./scripts/bench -binary "$bin" "$@"
