#!/usr/bin/env bash
# Builds the release archives of starttls-probe into OUTDIR (default dist/):
#
#   scripts/release.sh VERSION [OUTDIR]      e.g. scripts/release.sh v1.4.0
#
# One archive per target below: .zip for Windows, .tar.gz elsewhere, each
# holding the binary, README.md (and LICENSE when there is one) under
# starttls-probe_VERSION_OS_ARCH/, plus SHA256SUMS over the archives.
#
# Reproducible: the same commit and Go version give the same bytes on any
# machine. -trimpath drops the build machine's paths, -buildvcs=false its
# checkout state, CGO_ENABLED=0 its C toolchain, and every archive entry
# carries the commit's time (SOURCE_DATE_EPOCH overrides it). The version is
# stamped with -X main.stampedVersion, so --version shows it without VCS
# information.
#
# For linux/amd64 and linux/arm64 it also writes a .deb and an .rpm
# (binary in /usr/bin, README in /usr/share/doc/starttls-probe) with nfpm,
# configured in scripts/nfpm.yaml and installed at a pinned version with
# go install, so the only tool it needs is Go. Their timestamps come from
# SOURCE_DATE_EPOCH, which nfpm honours.
#
# A plain script rather than goreleaser: six go build calls, a 100-line
# archive writer (scripts/release) and one nfpm call per package are easier
# to read and to check in scripts/test.sh than a goreleaser configuration.
#
# AIX is not a target: report/baseline locks its file with unix.Flock,
# which golang.org/x/sys/unix does not have on AIX.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: scripts/release.sh VERSION [OUTDIR]   (for example v1.4.0)" >&2
  exit 2
fi
version=$1
out=${2:-dist}
case $version in
  *[!A-Za-z0-9._+-]*|'') echo "release.sh: VERSION $version: use letters, digits and . _ + - only" >&2; exit 2 ;;
esac

targets="windows/amd64 windows/arm64 linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
if [ -z "$epoch" ]; then
  echo "release.sh: not in a git checkout: set SOURCE_DATE_EPOCH to the source's time in Unix seconds" >&2
  exit 2
fi

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# The archive writer runs on this machine, whatever GOOS the builds are for.
go build -o "$stage/archive" ./scripts/release

extras=(README.md)
if [ -f LICENSE ]; then extras+=(LICENSE); fi

# nfpm, at a pinned version, comes through the Go module proxy once and is
# built for this machine like the archive writer.
GOFLAGS= GOBIN="$stage" go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
export SOURCE_DATE_EPOCH=$epoch

archives=()
for target in $targets; do
  goos=${target%/*} goarch=${target#*/}
  name=starttls-probe_${version}_${goos}_${goarch}
  exe=starttls-probe
  ext=tar.gz
  if [ "$goos" = windows ]; then exe=starttls-probe.exe ext=zip; fi
  mkdir -p "$stage/$name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOFLAGS= \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.stampedVersion=$version" \
      -o "$stage/$name/$exe" .
  "$stage/archive" -o "$out/$name.$ext" -mtime "$epoch" -dir "$name" "$stage/$name/$exe" "${extras[@]}"
  archives+=("$name.$ext")
  echo "$out/$name.$ext"
  if [ "$goos" = linux ]; then
    for packager in deb rpm; do
      # nfpm reads the files named in scripts/nfpm.yaml from its working
      # directory (it expands no variables in their paths).
      cp README.md "$stage/$name/"
      (cd "$stage/$name" && GOARCH=$goarch VERSION=$version \
        "$stage/nfpm" package --config "$root/scripts/nfpm.yaml" --packager "$packager" --target "$stage/" >/dev/null)
      # nfpm names the file by the distribution's rules (starttls-probe_1.4.0_amd64.deb,
      # starttls-probe-1.4.0-1.x86_64.rpm); rename it after the archives.
      pkg=$(ls "$stage"/*."$packager")
      mv "$pkg" "$out/$name.$packager"
      archives+=("$name.$packager")
      echo "$out/$name.$packager"
    done
  fi
done

# SHA256SUMS in the format sha256sum -c (and Get-FileHash by eye) reads.
(
  cd "$out"
  if command -v sha256sum >/dev/null; then sha256sum "${archives[@]}"; else shasum -a 256 "${archives[@]}"; fi
) > "$out/SHA256SUMS"
echo "$out/SHA256SUMS"
