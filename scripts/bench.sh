#!/usr/bin/env bash
# Measures starttls-probe on loopback in one run (issue 14: scale). At each
# endpoint count (-sizes, default 1000,20000), on two fleets of STARTTLS
# servers (a pool presenting one chain everywhere, a fleet presenting a leaf
# per endpoint under one CA), the probe (-o jsonl --no-tls-required-test,
# concurrency 64, and -o json at -json-sizes) beside the ceiling (a minimal
# Go STARTTLS client at the same concurrency that verifies every chain and
# the name), with endpoints/s and peak RSS; at the smallest count, the
# openssl s_client loop (and posttls-finger if installed) and the per-endpoint
# latency beside them; one host with three ports against one port. Prints
# markdown tables for README.md's "Performance" section and draws
# scripts/bench/scale.svg.
#
#   scripts/bench.sh                          defaults: 1,000 and 20,000 endpoints (about 8 min on 2 CPUs)
#   scripts/bench.sh -sizes 1000,20000,100000 100,000 too (several minutes more)
#   scripts/bench.sh -closed-lines 1000000    a 1,000,000-line target file of closed ports too
#   scripts/bench.sh -concurrency 128         any flag of scripts/bench (go run ./scripts/bench -h)
#   scripts/bench.sh -scan                    --tls-scan against sslscan and
#                                             testssl.sh -p -E -S (Debian packages
#                                             sslscan, testssl.sh) on one server
#
# The endpoints are distinct (address, port) pairs, 127.20.0.1 up, on a few
# ports each listening on every address (the probe probes a repeated target
# line once); the servers accept loopback connections only and close them
# with SO_LINGER 0, so that round after round of 100,000 connections leaves
# no TIME_WAIT behind (scripts/bench/listen.go).
#
# For a profile of the probe itself:
#   go test ./probe -run '^$' -bench . -cpuprofile cpu.prof && go tool pprof -top probe.test cpu.prof
set -euo pipefail
cd "$(dirname "$0")/.."

# Each endpoint in flight holds a client and a server socket: raise the
# descriptor limit (as root, the hard limit too) well above what 64 or more
# endpoints at once need.
want=65536
if [ "$(id -u)" = 0 ]; then ulimit -Hn "$want" 2>/dev/null || true; fi
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt "$want" ]; then hard=$want; fi
ulimit -n "$hard"

bin=$(mktemp -d)/starttls-probe
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
echo "== $(go version), $(nproc) CPUs, ulimit -n $(ulimit -n), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
go run ./scripts/bench -binary "$bin" "$@"
