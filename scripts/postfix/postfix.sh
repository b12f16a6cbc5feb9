#!/usr/bin/env bash
# Runs a throwaway Postfix on loopback for the interop tests (scripts/interop).
#
#   postfix.sh install        install postfix and openssl with apt-get when
#                             postfix is missing (root only)
#   postfix.sh ensure         install if missing and possible; exit 0 only when
#                             a test instance can run here (postfix present, root)
#   postfix.sh start RUN [PID]
#                             configure and start an instance in RUN, wait until
#                             every listener greets with 220; with PID, stop the
#                             instance and remove RUN if that process exits first
#                             (a test killed by its timeout must not leave Postfix
#                             running)
#   postfix.sh stop RUN       stop RUN's instance by the master's pid
#
# RUN is a directory the caller made, traversable by the postfix user, holding
# a file "listeners": one line per smtpd listener, "127.0.0.1:PORT" followed by
# name=value overrides of main.cf (each becomes "-o name=value" in master.cf;
# values cannot contain spaces). Postfix reads only RUN/conf/main.cf and
# RUN/conf/master.cf, never the system's /etc/postfix/main.cf (the configuration
# directory must hold only root-owned files, so the queue and data directories
# sit beside it), and it never delivers: no local or relay domains, every
# recipient rejected, every transport discard.
set -euo pipefail

die() { echo "postfix.sh: $*" >&2; exit 1; }

cmd_install() {
  command -v postfix >/dev/null && command -v openssl >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "postfix or openssl is missing and only root can install them"
  command -v apt-get >/dev/null || die "postfix or openssl is missing and there is no apt-get to install them"
  # "No configuration": no /etc/postfix/main.cf is written and no system
  # instance starts; the tests run their own.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends postfix openssl
}

cmd_ensure() {
  if ! command -v postfix >/dev/null; then
    [ "$(id -u)" = 0 ] || die "postfix is not installed (run as root to have it installed)"
    cmd_install || die "installing postfix failed"
  fi
  [ "$(id -u)" = 0 ] || die "postfix is installed, but only root can start an instance"
  echo "postfix $(postconf -h -d mail_version) at $(command -v postfix)"
}

# master_pid prints the pid of RUN's master process, if it is running.
master_pid() {
  local file="$1/queue/pid/master.pid" pid
  [ -r "$file" ] || return 1
  pid=$(tr -d ' \n' <"$file")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

write_config() {
  local run="$1"
  mkdir -p "$run/conf" "$run/queue" "$run/data"
  chown postfix "$run/data" # the master's lock file lives here
  : >"$run/conf/main.cf"
  postconf -c "$run/conf" -e \
    "compatibility_level = 3.6" \
    "queue_directory = $run/queue" \
    "data_directory = $run/data" \
    "myhostname = ${POSTFIX_HOSTNAME:-mail.interop.test}" \
    "mydomain = interop.test" \
    "inet_interfaces = 127.0.0.1" \
    "inet_protocols = ipv4" \
    "mydestination =" \
    "relay_domains =" \
    "mynetworks =" \
    "smtpd_relay_restrictions = reject" \
    "smtpd_recipient_restrictions = reject" \
    "default_transport = discard" \
    "local_transport = discard" \
    "relay_transport = discard" \
    "virtual_transport = discard" \
    "alias_maps =" \
    "local_recipient_maps =" \
    "alias_database =" \
    "biff = no" \
    "smtpd_tls_session_cache_database =" \
    "maillog_file = $run/maillog" \
    "maillog_file_prefixes = $run"

  # Our own master.cf: Debian's chroots smtpd, and only these services are
  # needed. No pickup: nothing may enter the queue locally either.
  {
    local addr overrides o
    while read -r addr overrides; do
      [ -n "$addr" ] || continue
      [[ "$addr" =~ ^127\.[0-9.]+:[0-9]+$ ]] || die "listener $addr: want 127.x.y.z:PORT"
      printf '%s inet n - n - - smtpd' "$addr"
      for o in $overrides; do printf ' -o %s' "$o"; done
      printf '\n'
    done <"$run/listeners"
    cat <<'EOF'
postlog   unix-dgram n - n - 1 postlogd
cleanup   unix n - n - 0 cleanup
rewrite   unix - - n - - trivial-rewrite
qmgr      unix n - n 300 1 qmgr
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
anvil     unix - - n - 1 anvil
tlsmgr    unix - - n 1000? 1 tlsmgr
discard   unix - - n - - discard
proxymap  unix - - n - - proxymap
EOF
  } >"$run/conf/master.cf"
}

# wait_for_greetings waits until every listener answers with a 220 greeting:
# postfix start returns before the master has bound them all.
wait_for_greetings() {
  local run="$1" addr deadline=$((SECONDS + 30)) line
  while read -r addr _; do
    [ -n "$addr" ] || continue
    until
      line=$( (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" && IFS= read -r -t 5 l <&3 && printf 'QUIT\r\n' >&3 && echo "$l") 2>/dev/null) &&
        [[ "$line" == 220* ]]
    do
      [ $SECONDS -lt $deadline ] || die "listener $addr did not greet with 220 within 30s; log: $run/maillog"
      sleep 0.2
    done
  done <"$run/listeners"
}

cmd_start() {
  local run="${1:?usage: postfix.sh start RUN [PID]}" watch="${2:-}"
  [ -f "$run/listeners" ] || die "$run/listeners is missing"
  if master_pid "$run" >/dev/null; then die "an instance is already running in $run"; fi
  write_config "$run"
  # A half-started instance must not outlive a failed start.
  trap 'cmd_stop "$run" >/dev/null 2>&1 || true' ERR EXIT
  postfix -c "$run/conf" start
  wait_for_greetings "$run"
  trap - ERR EXIT
  if [ -n "$watch" ]; then
    # Detached and with no open stdio, so the caller's pipes close.
    setsid "$0" watch "$run" "$watch" </dev/null >/dev/null 2>&1 &
  fi
  echo "postfix: master pid $(master_pid "$run"), log $run/maillog"
}

# cmd_watch outlives its caller: when the caller removes RUN it had a normal
# end and the watcher just leaves; when the caller dies first, the watcher
# stops the instance and removes RUN in its place.
cmd_watch() {
  local run="$1" pid="$2"
  while [ -e "$run/listeners" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
  [ -e "$run/listeners" ] || return 0
  cmd_stop "$run"
  rm -rf "$run"
}

cmd_stop() {
  local run="${1:?usage: postfix.sh stop RUN}" pid i
  pid=$(master_pid "$run") || return 0
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  # The pid file outlives the master; remove it so a later stop cannot
  # signal a process that reused the number.
  rm -f "$run/queue/pid/master.pid"
}

case "${1:-}" in
  install) cmd_install ;;
  ensure) cmd_ensure ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  watch) shift; cmd_watch "$@" ;;
  *) die "usage: postfix.sh install | ensure | start RUN [PID] | stop RUN" ;;
esac
