#!/usr/bin/env bash
# Runs every test: formatting, vet, the import rules, the unit and loopback
# tests with the race detector, and the interop tests against real Postfix,
# aiosmtpd, OpenSMTPD, Exim, chasquid, Courier, Sendmail, Dovecot submission,
# maddy and Mailpit.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go vet for Windows (the admins' platform)"
GOOS=windows go vet ./...

echo "== import rules"
scripts/check-imports.sh

echo "== postfix for the interop tests (scripts/interop)"
# Installs Postfix when it is missing and we are root. Without it the interop
# tests skip, except under CI=true, where they must run.
postfix_skip=""
if ! scripts/postfix/postfix.sh ensure; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true and no Postfix instance can run here"; exit 1
  fi
  postfix_skip="SKIP: the real-Postfix interop tests (scripts/interop) did not run: see the postfix step"
  echo "$postfix_skip"
fi

echo "== other servers for the interop tests (scripts/interop/servers.sh)"
# Unpacks aiosmtpd, OpenSMTPD, Exim, chasquid, Courier, Sendmail and Dovecot
# from Debian's packages when missing and we are root, and builds maddy and
# Mailpit, which are Go modules, in a module of their own. Without them their
# interop tests skip, except under CI=true, where they must run.
servers_skip=""
if ! scripts/interop/servers.sh ensure; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true and the interop servers cannot run here"; exit 1
  fi
  servers_skip="SKIP: some real-server interop tests (scripts/interop) did not run: see the servers step"
  echo "$servers_skip"
fi

echo "== unbound for the DNSSEC tests (report: TestDANEWithAValidatingResolver)"
# A real validating resolver judges the DANE cases. Installed when missing
# and we are root; without it those tests skip loudly, except under CI=true,
# where they fail (dnstest.StartUnbound).
unbound_skip=""
if ! command -v unbound >/dev/null && [ ! -x /usr/sbin/unbound ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q --no-install-recommends unbound || { apt-get update -q && apt-get install -y -q --no-install-recommends unbound; } || true
  fi
  if ! command -v unbound >/dev/null && [ ! -x /usr/sbin/unbound ]; then
    if [ "${CI:-}" = true ]; then
      echo "FAIL: CI=true and unbound cannot be installed here"; exit 1
    fi
    unbound_skip="SKIP: the DANE tests against a validating resolver did not run: unbound is missing (apt-get install -y unbound)"
    echo "$unbound_skip"
  fi
fi

echo "== promtool, prometheus and chromium for the exporter's tests (scripts/examples/prometheus.sh)"
# Installs Debian's prometheus and chromium when
# missing and we are root, without starting their daemons. Without them the
# tests that need them skip, loudly, except under CI=true, where they must run.
prometheus_skip=""
if ! scripts/examples/prometheus.sh ensure; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true and promtool, prometheus or chromium is missing"; exit 1
  fi
  prometheus_skip="SKIP: the promtool, Prometheus and Chromium tests did not run: see the prometheus step"
  echo "$prometheus_skip"
fi

echo "== go test -race"
go test -race -count=1 ./...

echo "== scheduled-check examples (scripts/examples)"
scripts/examples/test-examples.sh

echo "== release archives (scripts/release.sh)"
scripts/test-release.sh

# Repeated last, where it cannot scroll out of sight.
if [ -n "$postfix_skip" ]; then echo "$postfix_skip"; fi
if [ -n "$servers_skip" ]; then echo "$servers_skip"; fi
if [ -n "$unbound_skip" ]; then echo "$unbound_skip"; fi
if [ -n "$prometheus_skip" ]; then echo "$prometheus_skip"; fi
