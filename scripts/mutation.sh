#!/usr/bin/env bash
# Mutation testing (issue 18): gremlins plants one small bug at a time (a
# flipped comparison, a negated condition, an off-by-one) and runs the
# package's tests; a mutant the tests do not notice "lived".
#
#   scripts/mutation.sh        report/... and the probe's dialogue, guard,
#                              TLS-required test, replies and name rules
#   scripts/mutation.sh full report   (or probe, or one package's directory,
#                              such as report/baseline, or one file, such
#                              as report/posture.go) a part of it
#   scripts/mutation.sh ci     only the guard and the judgement rules (a few
#                              minutes); exits 1 when efficacy is below
#                              MUTATION_TARGET (default 90)
#
# It prints per package killed, lived, efficacy = killed / (killed + lived),
# and the efficacy once the lived mutants listed in
# scripts/mutation-equivalent.txt (mutants that cannot change behaviour,
# each with its reason) are set aside; the target applies to that figure.
# Every lived mutant not listed is printed: kill it with a test, or list it.
#
# Needs gremlins v0.5.0 (go install
# github.com/go-gremlins/gremlins/cmd/gremlins@v0.5.0). On 2 shared cores
# its default timeouts mark every mutant "timed out", hence
# --timeout-coefficient 30 --workers 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-full}
part=${2:-}
target=${MUTATION_TARGET:-90}
# MUTATION_WORKERS: mutants tested at once (each builds and tests a copy);
# 2 halves a run on an otherwise idle 2-core machine.
workers=${MUTATION_WORKERS:-1}
equivalents=$root/scripts/mutation-equivalent.txt
PATH=$PATH:$(go env GOPATH)/bin
command -v gremlins >/dev/null || {
  echo "gremlins not found: go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.5.0" >&2; exit 3; }

# The scope: a file, or a file and the functions in it to mutate.
case $mode in
full)
  # report/reporttest is the tests' own fixtures: nothing to mutate.
  report=($(find report -name '*.go' ! -name '*_test.go' ! -path 'report/reporttest/*' | sort))
  probe=(probe/probe.go probe/tlsrequired.go probe/reply.go probe/target.go)
  case $part in
  "") scope=("${report[@]}" "${probe[@]}") ;;
  report) scope=("${report[@]}") ;;
  probe) scope=("${probe[@]}") ;;
  *) if [ -f "$part" ]; then scope=("$part")
     else scope=($(find "$part" -maxdepth 1 -name '*.go' ! -name '*_test.go' | sort)); fi ;;
  esac
  ;;
ci)
  scope=(probe/probe.go:checkCommand,writeCommands,CheckEHLOName
    report/tlsrequired.go report/thumbprint.go report/consistency.go
    report/checks.go:checkExpiry,checkProtocol,checkThumbprint,checkName,checkSTARTTLS
    report/baseline/compare.go:judge) ;;
*) echo "usage: scripts/mutation.sh [full|ci]" >&2; exit 3 ;;
esac

# gremlins 0.5 restricts mutants only to the lines of a git diff
# (--diff). So the module is copied, committed with the scope blanked
# out, and restored: to git, exactly the scope is new. Only probe and
# report are copied: the e2e and interop tests cost minutes and mutate
# nothing here.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# README.md too: tests check that it names what the code writes.
cp go.mod go.sum README.md "$work"/
cp -r probe report "$work"/
cd "$work"
git init -q
for spec in "${scope[@]}"; do
  file=${spec%%:*}
  if [[ $spec != *:* ]]; then
    : >"$file"
    continue
  fi
  awk -v funcs="${spec#*:}" '
    BEGIN { n = split(funcs, f, ",") }
    !skip && /^func / { for (i = 1; i <= n; i++) if (index($0, " " f[i] "(")) skip = 1 }
    !skip { print; next }
    /^}/ { skip = 0 }' "$file" >"$file.blank"
  if cmp -s "$file" "$file.blank"; then echo "mutation.sh: no function ${spec#*:} in $file" >&2; exit 3; fi
  mv "$file.blank" "$file"
done
git add -A
git -c user.name=mutation -c user.email=mutation@localhost commit -qm "scope blanked"
for spec in "${scope[@]}"; do cp "$root/${spec%%:*}" "${spec%%:*}"; done

# CI=true makes tests that need Postfix fail; none of them is copied, but
# the variable must not change what the tests here do either.
# MUTATION_LOG keeps gremlins' output; a run stopped early (its gremlins
# process killed) is still summed up, as far as it went.
log=${MUTATION_LOG:-$work/gremlins.log}
start=$(date +%s)
stopped=0
# GOFLAGS=-parallel=16: the probe's slow tests wait on deadlines and
# timers (27 s of waiting, 5 s of CPU), run two at a time by default on 2
# cores; sixteen at a time the package takes 7 s, so each of its mutants
# does too. They passed six runs in a row that way at a load average of 10.
env -u CI NO_COLOR=1 GOFLAGS=-parallel=16 gremlins unleash --diff HEAD --timeout-coefficient 30 --workers "$workers" . | tee "$log" || {
  stopped=1
  echo "gremlins stopped early: the figures below are for the mutants it ran"
}
echo "gremlins took $(($(date +%s) - start)) s ($mode $part)"

# A lived mutant is equivalent when its file, type and source line (trimmed)
# are listed: "file | TYPE | source line | why".
awk -v eqfile="$equivalents" -v work="$work" -v target="$target" -v mode="$mode" '
  BEGIN {
    while ((getline l < eqfile) > 0) {
      if (l ~ /^#/ || split(l, f, / \| /) < 4) continue
      equiv[f[1] "|" f[2] "|" f[3]] = 1
    }
  }
  $3 == "at" || $4 == "at" {
    # "KILLED TYPE at file:line:col", or "NOT COVERED TYPE at ..."
    if ($3 == "at") { status = $1; type = $2; pos = $4 } else { status = $1 " " $2; type = $3; pos = $5 }
    split(pos, p, ":"); file = p[1]; line = p[2]
    pkg = file; sub(/\/[^\/]*$/, "", pkg)
    if (status == "SKIPPED") next
    pkgs[pkg] = 1
    if (status == "KILLED") killed[pkg]++
    else if (status == "LIVED") {
      src = ""; i = 0
      while ((getline l < (work "/" file)) > 0) if (++i == line) { src = l; break }
      close(work "/" file)
      gsub(/^[ \t]+|[ \t]+$/, "", src)
      if ((file "|" type "|" src) in equiv) eq[pkg]++
      else { lived[pkg]++; unexplained = unexplained sprintf("  LIVED %s at %s: %s\n", type, pos, src) }
    } else if (status == "TIMED OUT") timedout[pkg]++
    else if (status == "NOT COVERED") notcovered[pkg]++
  }
  END {
    printf "\n%-20s %6s %6s %6s %9s %11s %9s %s\n", "package", "killed", "lived", "equiv.", "timed out", "not covered", "efficacy", "equivalents set aside"
    fail = 0
    for (pkg in pkgs) {
      k = killed[pkg] + 0; l = lived[pkg] + 0; e = eq[pkg] + 0
      raw = (k + l + e) ? 100 * k / (k + l + e) : 100
      adj = (k + l) ? 100 * k / (k + l) : 100
      printf "%-20s %6d %6d %6d %9d %11d %8.1f%% %.1f%%\n", pkg, k, l + e, e, timedout[pkg], notcovered[pkg], raw, adj
      if (adj < target) fail = 1
    }
    if (unexplained != "") printf "\nLived mutants not listed in scripts/mutation-equivalent.txt:\n%s", unexplained
    if (mode == "ci" && length(pkgs) == 0) { printf "\nFAIL: no mutant ran\n"; exit 1 }
    if (mode == "ci" && fail) { printf "\nFAIL: efficacy below the %d%% target\n", target; exit 1 }
  }' "$log"
# In CI a run that stopped early (a test failing without mutants, say)
# must not pass for a measured one.
if [ "$mode" = ci ] && [ "$stopped" = 1 ]; then
  echo "FAIL: gremlins did not finish"; exit 1
fi
