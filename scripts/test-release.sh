#!/usr/bin/env bash
# Runs scripts/release.sh into a temporary directory and checks what a user
# gets: every archive is listed in SHA256SUMS and matches it (sha256sum -c),
# unpacks into starttls-probe_VERSION_OS_ARCH/ with the binary and
# README.md, the .deb and .rpm hold what they should under the right name,
# version and architecture, the linux/amd64 binary prints the stamped
# version, not the build information's "(devel)", and a second build gives
# the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v0.0.0-releasetest
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
scripts/release.sh "$version" "$dir/dist" >/dev/null

fail=0
(cd "$dir/dist" && sha256sum -c --quiet SHA256SUMS) || { echo "FAIL: SHA256SUMS does not match the archives"; fail=1; }
for target in windows_amd64 windows_arm64 linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  name=starttls-probe_${version}_${target}
  case $target in
    windows_*) archive=$name.zip exe=starttls-probe.exe ;;
    *) archive=$name.tar.gz exe=starttls-probe ;;
  esac
  if ! grep -q "  $archive\$" "$dir/dist/SHA256SUMS"; then
    echo "FAIL: $archive is not in SHA256SUMS"; fail=1; continue
  fi
  mkdir -p "$dir/unpacked/$target"
  case $archive in
    *.zip) unzip -q "$dir/dist/$archive" -d "$dir/unpacked/$target" ;;
    *) tar -xzf "$dir/dist/$archive" -C "$dir/unpacked/$target" ;;
  esac
  for f in "$exe" README.md; do
    if [ ! -f "$dir/unpacked/$target/$name/$f" ]; then
      echo "FAIL: $archive has no $name/$f"; fail=1
    fi
  done
  if [ "$target" != windows_amd64 ] && [ "$target" != windows_arm64 ] && [ ! -x "$dir/unpacked/$target/$name/$exe" ]; then
    echo "FAIL: $archive: $exe is not executable"; fail=1
  fi
done

# The Linux packages: the binary in /usr/bin, the README in its doc
# directory, the version without its v (0.0.0~releasetest). dpkg-deb comes
# with Debian and Ubuntu; rpm is checked where it is installed.
want="${version#v}"; want="${want/-/\~}"
for arch in amd64 arm64; do
  deb=$dir/dist/starttls-probe_${version}_linux_${arch}.deb
  rpm=$dir/dist/starttls-probe_${version}_linux_${arch}.rpm
  for pkg in "$deb" "$rpm"; do
    grep -q "  ${pkg##*/}\$" "$dir/dist/SHA256SUMS" || { echo "FAIL: ${pkg##*/} is not in SHA256SUMS"; fail=1; }
  done
  if command -v dpkg-deb >/dev/null; then
    if [ "$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" != "Package: starttls-probe Version: $want Architecture: $arch " ]; then
      echo "FAIL: ${deb##*/}: control is"; dpkg-deb -f "$deb"; fail=1
    fi
    if [ "$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $6}' | sort | tr '\n' ' ')" != "-rw-r--r-- ./usr/share/doc/starttls-probe/README.md -rwxr-xr-x ./usr/bin/starttls-probe " ]; then
      echo "FAIL: ${deb##*/} holds:"; dpkg-deb -c "$deb"; fail=1
    fi
    if [ "$arch" = amd64 ] && [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
      dpkg-deb -x "$deb" "$dir/deb"
      got=$("$dir/deb/usr/bin/starttls-probe" --version)
      [ "$got" = "starttls-probe $version" ] || { echo "FAIL: the .deb's binary printed '$got'"; fail=1; }
    fi
  else
    if [ "${CI:-}" = true ]; then echo "FAIL: CI=true and dpkg-deb is not installed"; fail=1; fi
    echo "SKIP: dpkg-deb is not installed: the .deb files were not inspected"
  fi
  if command -v rpm >/dev/null; then
    rpmarch=$arch; [ "$arch" = amd64 ] && rpmarch=x86_64; [ "$arch" = arm64 ] && rpmarch=aarch64
    if [ "$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$rpm" 2>/dev/null)" != "starttls-probe $want $rpmarch" ]; then
      echo "FAIL: ${rpm##*/} is $(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$rpm")"; fail=1
    fi
    if [ "$(rpm -qlp "$rpm" 2>/dev/null | sort | tr '\n' ' ')" != "/usr/bin/starttls-probe /usr/share/doc/starttls-probe/README.md " ]; then
      echo "FAIL: ${rpm##*/} holds:"; rpm -qlp "$rpm"; fail=1
    fi
  else
    if [ "${CI:-}" = true ]; then echo "FAIL: CI=true and rpm is not installed"; fail=1; fi
    echo "SKIP: rpm is not installed: the .rpm files were not inspected"
  fi
done

bin=$dir/unpacked/linux_amd64/starttls-probe_${version}_linux_amd64/starttls-probe
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
  got=$("$bin" --version)
  if [ "$got" != "starttls-probe $version" ]; then
    echo "FAIL: the linux/amd64 binary's --version printed '$got', want 'starttls-probe $version'"; fail=1
  fi
else
  echo "SKIP: the linux/amd64 binary cannot run on $(go env GOHOSTOS)/$(go env GOHOSTARCH)"
fi

# Reproducible: a second run from the same commit gives the same archives.
scripts/release.sh "$version" "$dir/again" >/dev/null
if ! cmp -s "$dir/dist/SHA256SUMS" "$dir/again/SHA256SUMS"; then
  echo "FAIL: two release builds of the same commit differ:"; diff "$dir/dist/SHA256SUMS" "$dir/again/SHA256SUMS" || true; fail=1
fi

if [ "$fail" = 0 ]; then echo "release archives: ok"; fi
exit "$fail"
