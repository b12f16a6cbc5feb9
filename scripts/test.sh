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

# need runs an ensure step for tests that use real software. When the step
# fails, CI=true stops here (those tests must run in CI); elsewhere the tests
# skip and the skip is said now and again at the end.
skipped=()
need() {
  local what=$1; shift
  if ! "$@"; then
    if [ "${CI:-}" = true ]; then
      echo "FAIL: CI=true and $what cannot run here"; exit 1
    fi
    skipped+=("SKIP: the tests of $what did not run: see its step above")
    echo "${skipped[-1]}"
  fi
}

# unbound is installed when missing and we are root.
ensure_unbound() {
  command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q --no-install-recommends unbound ||
      { apt-get update -q && apt-get install -y -q --no-install-recommends unbound; } || true
  fi
  command -v unbound >/dev/null || [ -x /usr/sbin/unbound ]
}

echo "== postfix for the interop tests (scripts/interop)"
# Installs Postfix when it is missing and we are root.
need "real Postfix (scripts/interop)" scripts/postfix/postfix.sh ensure

echo "== other servers for the interop tests (scripts/interop/servers.sh)"
# Unpacks aiosmtpd, OpenSMTPD, Exim, chasquid, Courier, Sendmail and Dovecot
# from Debian's packages when missing and we are root, and builds maddy and
# Mailpit, which are Go modules, in a module of their own.
need "the other real servers (scripts/interop)" scripts/interop/servers.sh ensure

echo "== unbound for the DNSSEC tests (report: TestDANEWithAValidatingResolver)"
# A real validating resolver judges the DANE cases (dnstest.StartUnbound).
need "DANE against a validating resolver (unbound)" ensure_unbound

echo "== promtool, prometheus and chromium for the exporter's tests (scripts/examples/prometheus.sh)"
# Installs Debian's prometheus and chromium when missing and we are root,
# without starting their daemons.
need "promtool, Prometheus and Chromium" scripts/examples/prometheus.sh ensure

echo "== go test -race"
go test -race -count=1 ./...

echo "== scheduled-check examples (scripts/examples)"
scripts/examples/test-examples.sh

echo "== release archives (scripts/release.sh)"
scripts/test-release.sh

# Repeated last, where they cannot scroll out of sight.
for line in "${skipped[@]}"; do echo "$line"; done
