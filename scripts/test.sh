#!/usr/bin/env bash
# Runs every test: formatting, vet, the import rules, the unit and loopback
# tests with the race detector, and the real-Postfix interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== import rules"
scripts/check-imports.sh

echo "== go test -race"
go test -race -count=1 ./...
