#!/usr/bin/env bash
# probe observes and never judges or renders: it must not depend on report,
# urfave/cli or fatih/color. report never dials: it must not depend on the
# probe's test servers.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
deps=$(go list -deps ./probe)
for bad in "$mod/report" github.com/urfave/cli github.com/fatih/color; do
  if grep -q "^$bad" <<<"$deps"; then
    echo "probe must not import $bad"; fail=1
  fi
done
if go list -deps ./report | grep -q "^$mod/probe/probetest"; then
  echo "report must not import probe/probetest"; fail=1
fi
# The .NET name codec is for other Exchange tools too: nothing of ours.
if go list -deps ./report/dotnetname | grep -v "^$mod/report/dotnetname$" | grep -q "^$mod"; then
  echo "report/dotnetname must not import anything of $mod"; fail=1
fi
[ $fail = 0 ] && echo "ok: probe imports neither report, cli nor color; report does not import probetest; report/dotnetname imports nothing of ours"
exit $fail
