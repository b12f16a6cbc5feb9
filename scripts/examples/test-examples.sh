#!/usr/bin/env bash
# Runs every example in scripts/examples as written -- the cron lines, the
# systemd service's ExecStart, the Nagios command_line -- against a loopback
# mail host (loopback-mx) whose state changes between runs, and checks exit
# statuses and output. Only paths, the target and the test CA are swapped
# in; everything else is the example's own text. k8s-indexed-job.yaml is
# run the same way by scripts/e2e/k8s_example_test.go, which needs loopback
# DNS and several 127.0.0.x servers.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/examples

T=$(mktemp -d)
mx_pid=""
cleanup() {
  if [ -n "$mx_pid" ]; then kill "$mx_pid" 2>/dev/null || true; wait "$mx_pid" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

go build -o "$T/starttls-probe" .
go build -o "$T/loopback-mx" ./$here/loopback-mx
go build -o "$T/promcheck" ./$here/promcheck
mkdir -p "$T/state" "$T/textfile" "$T/prom" "$T/nagios"

echo good >"$T/mode"
"$T/loopback-mx" -mode "$T/mode" -ca-file "$T/ca.pem" >"$T/mx.out" 2>"$T/mx.err" &
mx_pid=$!
for _ in $(seq 100); do
  grep -q '^ADDR=' "$T/mx.out" 2>/dev/null && break
  sleep 0.1
done
ADDR=$(sed -n 's/^ADDR=//p' "$T/mx.out")
[ -n "$ADDR" ] || { echo "loopback-mx did not start:"; cat "$T/mx.err"; exit 1; }
PORT=${ADDR##*:}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# localize turns an example's command into one for this test: the binary
# and state directories under $T, and the target mail.contoso.com (last on
# the line) probed at loopback-mx's address, trusting its CA.
localize() {
  sed -e "s#/usr/local/bin/starttls-probe#$T/starttls-probe#g" \
      -e "s#/var/lib/starttls-probe#$T/state#g" \
      -e "s#/var/lib/prometheus/node-exporter#$T/textfile#g" \
      -e "s#/var/lib/prometheus#$T/prom#g" \
      -e "s#/var/lib/nagios/starttls-probe#$T/nagios#g" \
      -e "s# mail\.contoso\.com\$# --ca-file $T/ca.pem -n mail.contoso.com $ADDR#"
}

# cron_command is the command of the file's only job line: the fields after
# the five time fields and the user.
cron_command() {
  local lines
  lines=$(grep -E '^[*0-9@]' "$1")
  [ "$(wc -l <<<"$lines")" = 1 ] || { echo "want one job line in $1" >&2; return 1; }
  awk '{ for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "\n") }' <<<"$lines"
}

# run_example NAME MODE COMMAND WANT_EXIT: runs COMMAND with sh, as cron,
# systemd (close enough for one command) and Nagios do, with loopback-mx in
# MODE; leaves the output in $out and $err.
run_example() {
  local name=$1 mode=$2 cmd=$3 want=$4 code=0
  echo "$mode" >"$T/mode"
  sh -c "$cmd" >"$T/out" 2>"$T/err" || code=$?
  out=$(cat "$T/out"); err=$(cat "$T/err")
  if [ "$code" != "$want" ]; then
    fail "$name ($mode): exit $code, want $want"
    echo "  command: $cmd"; echo "--- stdout"; echo "$out"; echo "--- stderr"; echo "$err"
    return 1
  fi
  echo "ok: $name ($mode): exit $code"
}

expect_stdout() { # NAME PATTERN: stdout must match the extended regexp
  grep -Eq -- "$2" <<<"$out" || { fail "$1: stdout lacks /$2/:"; echo "$out"; }
}
expect_quiet() {
  [ -z "$out" ] || { fail "$1: -q printed something although all is ok:"; echo "$out"; }
}

echo "== cron line ($here/cron.d-starttls-probe)"
grep -q '^MAILTO=' $here/cron.d-starttls-probe || fail "cron: no MAILTO, so nobody gets the mail"
cmd=$(cron_command $here/cron.d-starttls-probe | localize)
run_example cron good "$cmd" 0 && expect_quiet "cron, first run"
[ -s "$T/state/baseline.json" ] || fail "cron: the first run recorded no baseline"
run_example cron good "$cmd" 0 && expect_quiet "cron, unchanged"
if run_example cron renewed "$cmd" 1; then
  expect_stdout "cron, renewed" "WARNING +baseline +certificate changed on 127\.0\.0\.1:$PORT: [0-9A-F]{40} → [0-9A-F]{40}"
fi
if run_example cron plain "$cmd" 2; then
  expect_stdout "cron, plain" "CRITICAL +baseline +STARTTLS lost on 127\.0\.0\.1:$PORT"
fi
run_example "cron --update-baseline" renewed "${cmd/ -q / -q --update-baseline }" 0 && expect_quiet "cron, accepted"
run_example cron renewed "$cmd" 0 && expect_quiet "cron, after acceptance"

echo "== systemd service and timer ($here/starttls-probe.service, .timer)"
exec_start=$(sed -n 's/^ExecStart=//p' $here/starttls-probe.service)
[ -n "$exec_start" ] || fail "systemd: no ExecStart= in the service"
grep -q '^StateDirectory=starttls-probe$' $here/starttls-probe.service || fail "systemd: the baseline's directory is not the StateDirectory"
grep -q '^Type=oneshot$' $here/starttls-probe.service || fail "systemd: the service is not Type=oneshot"
grep -q '^OnCalendar=' $here/starttls-probe.timer || fail "systemd: the timer has no OnCalendar="
grep -q '^Unit=starttls-probe.service$' $here/starttls-probe.timer || fail "systemd: the timer does not start the service"
if command -v systemd-analyze >/dev/null && systemd-analyze --help 2>/dev/null | grep -q verify; then
  systemd-analyze verify --man=no $here/starttls-probe.timer $here/starttls-probe.service 2>"$T/verify" || true
  if grep -v 'ExecStart=.*is not executable\|No such file\|Failed to\|^$' "$T/verify" | grep -q .; then
    fail "systemd-analyze verify:"; cat "$T/verify"
  fi
fi
rm -f "$T/state/baseline.json"
cmd=$(localize <<<"$exec_start")
run_example systemd good "$cmd" 0 && expect_quiet "systemd"
run_example systemd renewed "$cmd" 1 && expect_stdout "systemd, renewed" "certificate changed on"

echo "== Nagios command ($here/nagios-starttls-probe.cfg)"
command_line=$(sed -n 's/^ *command_line *//p' $here/nagios-starttls-probe.cfg)
grep -q 'check_command *check_starttls!25!' $here/nagios-starttls-probe.cfg || fail "nagios: no service uses check_starttls"
# Nagios expands the macros, then runs the line with sh.
nagios_cmd() { # PORT ARG2
  local c=$command_line
  c=${c//\$HOSTNAME\$/mail.contoso.com}
  c=${c//\$HOSTADDRESS\$/127.0.0.1}
  c=${c//\$ARG1\$/$1}
  c=${c//\$ARG2\$/$2}
  localize <<<"$c"
}
cmd=$(nagios_cmd "$PORT" "--ca-file $T/ca.pem")
if run_example nagios good "$cmd" 0; then
  expect_stdout "nagios, good" "^STARTTLS OK - 127\.0\.0\.1:$PORT ok \| '127\.0\.0\.1:$PORT days_left'=[0-9]+;30:;7: "
  [ -s "$T/nagios/mail.contoso.com-$PORT.json" ] || fail "nagios: no baseline per host and port"
fi
if run_example nagios renewed "$cmd" 1; then
  expect_stdout "nagios, renewed" "^STARTTLS WARNING - 127\.0\.0\.1:$PORT certificate changed on 127\.0\.0\.1:$PORT: [0-9A-F]{40} → [0-9A-F]{40} \|"
fi
if run_example nagios plain "$cmd" 2; then
  expect_stdout "nagios, plain" "^STARTTLS CRITICAL - 127\.0\.0\.1:$PORT STARTTLS not offered"
fi
# A baseline that is not one: UNKNOWN on stdout, where Nagios looks, and
# the file untouched.
echo "not a baseline" >"$T/nagios/mail.contoso.com-$PORT.json"
if run_example "nagios, corrupt baseline" good "$cmd" 3; then
  expect_stdout "nagios, corrupt baseline" "^STARTTLS UNKNOWN - baseline .* is not a starttls-probe baseline"
  [ "$(cat "$T/nagios/mail.contoso.com-$PORT.json")" = "not a baseline" ] || fail "nagios: the corrupt baseline was overwritten"
fi

echo "== textfile-collector job ($here/textfile-collector.cron)"
cmd=$(cron_command $here/textfile-collector.cron | localize)
prom=$T/textfile/starttls_probe.prom
check_prom() { # NAME PATTERN...: the file parses and holds each pattern
  local name=$1; shift
  "$T/promcheck" "$prom" >"$T/promcheck.out" 2>&1 || { fail "$name: $(cat "$T/promcheck.out")"; return; }
  for p in "$@"; do grep -Eq -- "$p" "$prom" || fail "$name: $prom lacks /$p/"; done
  if ls -A "$T/textfile" | grep -v '^starttls_probe\.prom$' | grep -q .; then fail "$name: other files left in the textfile directory: $(ls -A "$T/textfile")"; fi
}
if run_example textfile good "$cmd" 0; then
  [ -z "$out" ] || fail "textfile: printed to stdout, which cron would mail"
  check_prom "textfile, good" "^starttls_probe_success\{address=\"127\.0\.0\.1\",host=\"127\.0\.0\.1\",port=\"$PORT\"\} 1$" \
    "^starttls_probe_cert_info\{.*sha1=\"[0-9A-F]{40}\".*\} 1$"
fi
if run_example textfile plain "$cmd" 2; then
  check_prom "textfile, plain" "^starttls_probe_starttls_offered\{.*\} 0$" \
    "^starttls_probe_check\{address=\"127\.0\.0\.1\",check=\"baseline\",host=\"127\.0\.0\.1\",port=\"$PORT\",status=\"critical\"\} 1$"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures example check(s) failed"
  exit 1
fi
echo "ok: every example ran as documented"
