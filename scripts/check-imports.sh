#!/usr/bin/env bash
# probe observes and never judges or renders: it must not depend on report,
# urfave/cli or fatih/color. report judges and never dials: it must not
# depend on the probe's test servers, nor (with render) on go-smtp.
# report/render renders the Summary and decides nothing. report/dotnetname
# stands alone, for other tools.
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
report_deps=$(go list -deps ./report)
if grep -q "^$mod/probe/probetest" <<<"$report_deps"; then
  echo "report must not import probe/probetest"; fail=1
fi
# A refused reply reaches report as probe.ReplyError: go-smtp's error type
# (or any of go-smtp) must not leak into the judge or the renderers again.
if go list -deps ./report ./report/render | grep -q "^github.com/emersion/go-smtp"; then
  echo "report and report/render must not import github.com/emersion/go-smtp"; fail=1
fi
# The .NET name codec is for other Exchange tools too: nothing of ours.
if go list -deps ./report/dotnetname | grep -v "^$mod/report/dotnetname$" | grep -q "^$mod"; then
  echo "report/dotnetname must not import anything of $mod"; fail=1
fi
# render draws the Summary and decides nothing: it imports no certificate
# or TLS package to work a fact out with, none of the .NET codec, nothing
# that dials, and of probe it reads only the types of the observed dialogue.
render_imports=$(go list -f '{{join .Imports "\n"}}' ./report/render)
for bad in crypto/x509 crypto/tls net "$mod/report/dotnetname" "$mod/probe/probetest"; do
  if grep -qx "$bad" <<<"$render_imports"; then
    echo "report/render must not import $bad: the fact belongs in report's Summary"; fail=1
  fi
done
allowed_probe='^probe\.(Result|Endpoint|Place|Record|NewRecord|CertificateRecord|Reply|Mode|ModeImplicit|ModeSTARTTLS|Phase|Phase[A-Z][A-Za-z]*|Direction|FromClient|FromServer|TranscriptLine|Timings|TLSRequiredTest)$'
for f in report/render/*.go; do
  case $f in *_test.go) continue ;; esac
  for used in $(grep -o 'probe\.[A-Z][A-Za-z0-9]*' "$f" | sort -u); do
    if ! grep -Eq "$allowed_probe" <<<"$used"; then
      echo "$f uses $used: render reads only probe's result types"; fail=1
    fi
  done
done
# report/exporter serves what main's Prober gives it: it may read probe's
# types and parse targets, but never dials (no Run, Probe or Discover, nor
# the test servers) and never judges (no report.Judge).
if go list -deps ./report/exporter | grep -q "^$mod/probe/probetest"; then
  echo "report/exporter must not import probe/probetest"; fail=1
fi
for f in report/exporter/*.go; do
  case $f in *_test.go) continue ;; esac
  # Comments may name them; code may not.
  for used in $(grep -v '^[[:space:]]*//' "$f" | grep -oE '(probe\.(Run|Probe|Discover|NewResolver)|report\.Judge)\b' | sort -u); do
    echo "$f uses $used: the exporter gets its probing and judging from main's Prepare"; fail=1
  done
done
# The top level is fixed: the command is main.go, tested by main_test.go.
for f in *.go; do
  case $f in main.go | main_test.go) ;; *) echo "$f: the top level holds main.go and main_test.go only"; fail=1 ;; esac
done
[ $fail = 0 ] && echo "ok: probe imports neither report, cli nor color; report imports neither probetest nor go-smtp, nor does render; report/dotnetname imports nothing of ours; report/render draws the Summary alone; report/exporter neither dials nor judges"
exit $fail
