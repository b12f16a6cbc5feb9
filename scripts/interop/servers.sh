#!/usr/bin/env bash
# Unpacks SMTP servers other than Postfix from Debian's packages, and builds
# those that are Go modules, for the interop tests
# (scripts/interop/servers_test.go).
#
#   servers.sh ensure [SERVER...]  download and unpack or build each SERVER
#                                  (default: all) under ROOT; exit 0 only when
#                                  every one can run
#   servers.sh path SERVER         print the directory SERVER was unpacked or
#                                  built in, or say why it cannot run here and
#                                  exit 1
#
# SERVER is aiosmtpd, opensmtpd, exim, chasquid, courier, sendmail, dovecot,
# maddy or mailpit. ROOT is $STARTTLS_PROBE_SERVERS, by default
# /var/tmp/starttls-probe-servers.
#
# maddy and Mailpit are not Debian packages but Go modules: `go get -tool` in a
# throw-away module under ROOT/SERVER/build fetches the pinned version and
# `go build` writes the binary to ROOT/SERVER. They never become dependencies
# of this project's go.mod, and they run as the test's user, needing no root.
#
# These packages conflict with Postfix as the system's MTA, and their
# maintainer scripts would start system instances: they are never installed.
# `apt-get download` and `dpkg -x` put their files in ROOT/SERVER, and the tests
# run them as root under their own configuration, on 127.0.0.1 ports. What is
# installed is only what they link with (libraries, with apt-get) and the
# system users they drop privileges to, as their maintainer scripts would
# create them: opensmtpd and opensmtpq for OpenSMTPD, Debian-exim for Exim,
# courier for Courier, dovecot and dovenull for Dovecot; and m4, which builds
# Sendmail's configuration. Courier's, Sendmail's and Dovecot's configuration,
# helper, library and queue paths are compiled in (/etc/courier,
# /usr/lib/courier, /var/lib/courier; /etc/mail; /usr/lib/dovecot): their tests
# run them under `unshare -m` with read-only overlays of the test's and the
# unpacked files on /etc and /usr and a throw-away one on /var
# (namespaced_test.go), so nothing of them appears outside that namespace.
set -euo pipefail

die() { echo "servers.sh: $*" >&2; exit 1; }

root="${STARTTLS_PROBE_SERVERS:-/var/tmp/starttls-probe-servers}"
all_servers=(aiosmtpd opensmtpd exim chasquid courier sendmail dovecot maddy mailpit)

# packages SERVER: the Debian packages unpacked for SERVER.
packages() {
  case "$1" in
    aiosmtpd) echo python3-aiosmtpd python3-public python3-attr ;;
    opensmtpd) echo opensmtpd ;;
    exim) echo exim4-daemon-light ;;
    chasquid) echo chasquid ;;
    # courier-base has couriertls, courier-mta couriertcpd and courieresmtpd,
    # courier-authlib the libcourierauth they link with (found in
    # ROOT/courier/usr/lib: it is not a lib* package, so never installed).
    courier) echo courier-mta courier-base courier-authlib ;;
    # sendmail-cf has the m4 macros its configuration is built with.
    sendmail) echo sendmail-bin sendmail-cf ;;
    dovecot) echo dovecot-core dovecot-submissiond ;;
    maddy | mailpit) ;;
    *) die "unknown server $1 (want one of: ${all_servers[*]})" ;;
  esac
}

# binary SERVER: the program the tests run, relative to ROOT/SERVER.
binary() {
  case "$1" in
    aiosmtpd) echo usr/lib/python3/dist-packages/aiosmtpd/__main__.py ;;
    opensmtpd) echo usr/sbin/smtpd ;;
    exim) echo usr/sbin/exim4 ;;
    chasquid) echo usr/bin/chasquid ;;
    courier) echo usr/lib/courier/courier/modules/esmtp/courieresmtpd ;;
    sendmail) echo usr/libexec/sendmail/sendmail ;;
    dovecot) echo usr/sbin/dovecot ;;
    maddy) echo maddy ;;
    mailpit) echo mailpit ;;
  esac
}

# go_package SERVER: the module, the Go package built from it and the
# module's version, for the servers that are Go modules; nothing for the
# others. The versions are those issue 12 compared against.
go_package() {
  case "$1" in
    maddy) echo github.com/foxcpp/maddy github.com/foxcpp/maddy/cmd/maddy v0.8.1 ;;
    mailpit) echo github.com/axllent/mailpit github.com/axllent/mailpit v1.33.1 ;;
  esac
}

# users SERVER: the system users SERVER drops privileges to.
users() {
  case "$1" in
    opensmtpd) echo opensmtpd opensmtpq ;;
    exim) echo Debian-exim ;;
    courier) echo courier ;;
    dovecot) echo dovecot dovenull ;;
  esac
}

# why_not SERVER prints why SERVER cannot run here, nothing when it can.
why_not() {
  local server="$1" dir="$root/$1" u
  if [ -n "$(go_package "$server")" ]; then
    [ -f "$dir/.ready" ] && [ -x "$dir/$(binary "$server")" ] ||
      echo "$server is not built in $dir (run: scripts/interop/servers.sh ensure $server)"
    return
  fi
  [ "$(id -u)" = 0 ] || { echo "only root can run $server's test instance"; return; }
  [ -f "$dir/.ready" ] || { echo "$server is not unpacked in $dir (run: scripts/interop/servers.sh ensure $server)"; return; }
  for u in $(users "$server"); do
    id "$u" >/dev/null 2>&1 || { echo "system user $u is missing (run: scripts/interop/servers.sh ensure $server)"; return; }
  done
  if [ "$server" = aiosmtpd ]; then
    command -v python3 >/dev/null || { echo "python3 is not installed"; return; }
    return
  fi
  if [ "$server" = sendmail ]; then
    command -v m4 >/dev/null || { echo "m4 is not installed (run: scripts/interop/servers.sh ensure sendmail)"; return; }
  fi
  if [ "$server" = courier ] || [ "$server" = sendmail ] || [ "$server" = dovecot ]; then
    command -v unshare >/dev/null || { echo "unshare (util-linux) is not installed"; return; }
  fi
  if [ "$server" = courier ] && [ ! -x "$dir/usr/bin/couriertls" ]; then
    echo "couriertls is missing from $dir"
    return
  fi
  # Courier's libcourierauth and Dovecot's libdovecot are unpacked, not
  # installed (Dovecot's RUNPATH is /usr/lib/dovecot, there in its test's
  # namespace).
  local missing
  missing=$(LD_LIBRARY_PATH="$dir/usr/lib:$dir/usr/lib/dovecot" ldd "$dir/$(binary "$server")" 2>/dev/null | grep "not found" | tr -s ' \t' ' ') || true
  [ -z "$missing" ] || echo "$server lacks shared libraries: $missing"
}

# apt_get runs apt-get, updating the package lists once first should it
# fail for want of them (a fresh machine has none).
apt_get() {
  if ! apt-get "$@"; then
    apt-get update -q
    apt-get "$@"
  fi
}

# install_libraries PACKAGE...: installs the libraries (lib*) the packages
# depend on and this machine lacks. Libraries conflict with nothing.
install_libraries() {
  local libs=() lib
  for lib in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}' | sort -u); do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || libs+=("$lib")
  done
  [ ${#libs[@]} -eq 0 ] && return 0
  echo "servers.sh: installing libraries: ${libs[*]}"
  DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends "${libs[@]}"
}

add_users() {
  local u
  for u in $(users "$1"); do
    id "$u" >/dev/null 2>&1 && continue
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
  done
  # OpenSMTPD's unprivileged processes chroot here (its compiled-in path).
  if [ "$1" = opensmtpd ]; then mkdir -p /var/lib/opensmtpd/empty; fi
}

# build_go SERVER builds a server that is a Go module, in a module of its
# own: `go get -tool` pins the version (the only way the module proxy serves
# maddy v0.8.1, which lists no versions), and `go build` writes the binary.
# The go command ignores a dependency's replace directives, and maddy builds
# only with its own (its forks of go-imap and go-smtp): they are copied from
# its go.mod (one-line form, the only one it uses) before the build.
build_go() {
  local server="$1" dir="$root/$1" module pkg version
  read -r module pkg version <<<"$(go_package "$server")"
  command -v go >/dev/null || die "$server cannot be built: go is not on PATH"
  rm -rf "$dir"
  mkdir -p "$dir/build"
  # go get lists every module it adds: kept in build.log, shown on failure.
  if ! (
    cd "$dir/build"
    go mod init "starttls-probe-interop/$server" &&
      go get -tool "$pkg@$version" &&
      awk '$1 == "replace" && $3 == "=>" && NF >= 5 {print "-replace=" $2 "=" $4 "@" $5}' \
        "$(go list -m -f '{{.Dir}}' "$module")/go.mod" | xargs -r go mod edit &&
      go mod tidy &&
      go build -o "$dir/$(binary "$server")" "$pkg"
  ) >"$dir/build.log" 2>&1; then
    cat "$dir/build.log" >&2
    die "building $pkg@$version failed"
  fi
  echo "$pkg $version" >"$dir/.ready"
}

ensure_one() {
  local server="$1" dir="$root/$1" reason pkgs
  reason=$(why_not "$server")
  [ -z "$reason" ] && return 0
  if [ -n "$(go_package "$server")" ]; then
    build_go "$server"
    reason=$(why_not "$server")
    [ -z "$reason" ] || die "$server still cannot run after building: $reason"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "$reason"
  command -v apt-get >/dev/null || die "$server cannot run here and there is no apt-get to fetch it: $reason"
  if [ "$server" = aiosmtpd ] && ! command -v python3 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends python3
  fi
  if [ "$server" = sendmail ] && ! command -v m4 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends m4
  fi
  pkgs=$(packages "$server")
  rm -rf "$dir"
  mkdir -p "$dir/debs"
  # apt-get download writes to the current directory, as _apt where it can.
  chmod 777 "$dir/debs"
  # shellcheck disable=SC2086 # one word per package
  (cd "$dir/debs" && apt_get download -q $pkgs)
  local deb
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir"; done
  # shellcheck disable=SC2086
  install_libraries $pkgs
  add_users "$server"
  for deb in "$dir"/debs/*.deb; do dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"; done >"$dir/.ready"
  reason=$(why_not "$server")
  [ -z "$reason" ] || die "$server still cannot run after unpacking: $reason"
}

cmd_ensure() {
  local servers=("$@") s failed=0
  [ ${#servers[@]} -gt 0 ] || servers=("${all_servers[@]}")
  for s in "${servers[@]}"; do
    packages "$s" >/dev/null
    if (ensure_one "$s"); then
      echo "$s: $(binary "$s") in $root/$s"
    else
      failed=1
    fi
  done
  return $failed
}

cmd_path() {
  local server="${1:?usage: servers.sh path SERVER}" reason
  packages "$server" >/dev/null
  reason=$(why_not "$server")
  [ -z "$reason" ] || die "$reason"
  echo "$root/$server"
}

case "${1:-}" in
  ensure) shift; cmd_ensure "$@" ;;
  path) shift; cmd_path "$@" ;;
  *) die "usage: servers.sh ensure [SERVER...] | path SERVER" ;;
esac
