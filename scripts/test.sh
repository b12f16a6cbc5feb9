#!/usr/bin/env bash
# Runs every test: formatting, vet, the import rules, the unit and loopback
# tests with the race detector, and the interop tests against real Postfix,
# aiosmtpd, OpenSMTPD, Exim and chasquid.
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
# Unpacks aiosmtpd, OpenSMTPD, Exim and chasquid from Debian's packages when
# missing and we are root. Without them their interop tests skip, except under
# CI=true, where they must run.
servers_skip=""
if ! scripts/interop/servers.sh ensure; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: CI=true and the interop servers cannot run here"; exit 1
  fi
  servers_skip="SKIP: some real-server interop tests (scripts/interop) did not run: see the servers step"
  echo "$servers_skip"
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
