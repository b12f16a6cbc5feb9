#!/usr/bin/env bash
# Runs every fuzz target for a while: the parsers of user input (targets,
# ports, thumbprints), the reader of server replies, the guard on what the
# probe may send (FuzzCheckCommand) and the escaping of server text. New
# failing inputs land in <package>/testdata/fuzz/<Target>/, where plain
# `go test` replays them from then on: commit them with the fix.
#
# usage: scripts/fuzz.sh [duration per target, default 30s] [target name regexp]
#   FUZZTIME=2m scripts/fuzz.sh        same as scripts/fuzz.sh 2m
#   scripts/fuzz.sh 10s Reply          only the targets matching "Reply"
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-${FUZZTIME:-30s}}
only=${2:-.}

failed=0
ran=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  # Fuzz targets are found in the test files, as go test would.
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go 2>/dev/null | sed 's/^func //; s/($//' | sort -u || true)
  for target in $targets; do
    grep -Eq -- "$only" <<<"$target" || continue
    ran=$((ran + 1))
    echo "== $pkg $target ($fuzztime)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"; then
      echo "!! $target failed (see above); an input that breaks it is saved in $dir/testdata/fuzz/$target/"
      failed=1
    fi
  done
done
if [ "$ran" = 0 ]; then
  echo "no fuzz target matches \"$only\""; exit 1
fi
exit $failed
