#!/usr/bin/env bash
# make dist: release binaries that anyone can rebuild byte for byte, their
# checksums, an SBOM per binary, and a signature over the checksums.
#
#   scripts/dist.sh             build into dist/
#   scripts/dist.sh tools       install the pinned SBOM generator (needs the module proxy once)
#   scripts/dist.sh has-tools   exit 0 when it is installed
#
# Environment:
#   DIST_TARGETS  GOOS/GOARCH list (default: the five release platforms)
#   DIST_OUT      output folder (default: dist), replaced only when complete
#   DIST_KEY      private key (file or pkcs11: URI): sign SHA256SUMS into SHA256SUMS.sig;
#                 its password from DIST_PASSWORD_FILE, AIRLOCK_PASSWORD or the terminal
#   VERSION       version to stamp (-X main.version); default: from the commit
#
# Reproducible: the toolchain of go.mod exactly, -trimpath, no cgo, fixed
# GOFLAGS and microarchitecture levels, -buildvcs (the commit, its time and
# whether the tree was modified: the same for the same commit), no
# timestamps or serial numbers in the SBOM.
set -euo pipefail
cd "$(dirname "$0")/.."

sbom_module=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
sbom_version=v1.10.0

toolchain=$(awk '/^toolchain/ {print $2}' go.mod)
export GOTOOLCHAIN=$toolchain GOWORK=off GOFLAGS=-mod=readonly
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin=$(go env GOPATH)/bin
sbomtool=$gobin/cyclonedx-gomod

# The SBOM names the generator by its hash, so the generator itself is built
# reproducibly: pinned version, this toolchain, -trimpath, no cgo.
has_tools() {
  [ -x "$sbomtool" ] || return 1
  local info
  info=$(go version -m "$sbomtool" 2>/dev/null) || return 1
  grep -Eq "^$sbomtool: $toolchain\$" <<<"$info" &&
    grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/CycloneDX/cyclonedx-gomod[[:space:]]+$sbom_version[[:space:]]" <<<"$info" &&
    grep -Eq "^[[:space:]]+build[[:space:]]+-trimpath=true\$" <<<"$info" &&
    grep -Eq "^[[:space:]]+build[[:space:]]+CGO_ENABLED=0\$" <<<"$info"
}
install_tools() {
  has_tools || CGO_ENABLED=0 go install -trimpath "$sbom_module@$sbom_version"
}

case "${1:-}" in
  tools) install_tools; exit 0 ;;
  has-tools) has_tools; exit ;;
  "") ;;
  *) echo "usage: $0 [tools|has-tools]" >&2; exit 2 ;;
esac
install_tools

targets=${DIST_TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}
out=${DIST_OUT:-dist}
out=${out%/}

vcs=false
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  vcs=true
  if [ -n "$(git status --porcelain)" ]; then
    echo "dist: warning: the work tree has uncommitted changes: the binaries record vcs.modified=true" >&2
  fi
fi
ldflags="-s -w"
if [ -n "${VERSION:-}" ]; then ldflags="$ldflags -X main.version=$VERSION"; fi

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.tmp.XXXXXX")
signer_dir=""
cleanup() { rm -rf "$tmp" ${signer_dir:+"$signer_dir"}; }
trap cleanup EXIT

for t in $targets; do
  os=${t%/*} arch=${t#*/}
  name=airlock-$os-$arch
  [ "$os" = windows ] && name=$name.exe
  echo "dist: $name" >&2
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT= \
    go build -trimpath -buildvcs=$vcs -ldflags "$ldflags" -o "$tmp/$name" ./cmd/airlock
  "$sbomtool" bin -json -std -noserial -notimestamp -output "$tmp/${name%.exe}.cdx.json" "$tmp/$name"
done

(cd "$tmp" && LC_ALL=C sha256sum -- * > SHA256SUMS)

if [ -n "${DIST_KEY:-}" ]; then
  # Sign with this platform's release binary unless the key is in a token:
  # release binaries have no cgo, so no PKCS#11.
  host=$(go env GOHOSTOS)/$(go env GOHOSTARCH)
  signer=""
  case " $targets " in *" $host "*) signer=$tmp/airlock-${host%/*}-${host#*/} ;; esac
  if [ -z "$signer" ] || [[ $DIST_KEY == pkcs11:* ]]; then
    signer_dir=$(mktemp -d)
    signer=$signer_dir/airlock
    go build -trimpath -o "$signer" ./cmd/airlock
  fi
  "$signer" key sign-blob "$tmp/SHA256SUMS" --key "$DIST_KEY" --output-signature "$tmp/SHA256SUMS.sig" \
    ${DIST_PASSWORD_FILE:+--password-file "$DIST_PASSWORD_FILE"} >/dev/null
  echo "dist: signed SHA256SUMS" >&2
fi

rm -rf "$out"
mv "$tmp" "$out"
chmod 0755 "$out"
echo "dist: wrote $out:" >&2
cat "$out/SHA256SUMS"
