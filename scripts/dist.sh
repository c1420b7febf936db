#!/usr/bin/env bash
# make dist: release binaries that anyone can rebuild byte for byte, their
# SBOMs, .deb and .rpm packages, their checksums, and — with a release
# key — a signature over the checksums (detached and as a Sigstore bundle)
# and the SLSA provenance of every file.
#
#   scripts/dist.sh             build into dist/
#   scripts/dist.sh tools       install the pinned SBOM generator and fetch the
#                               pinned package builder (needs the module proxy once)
#   scripts/dist.sh has-tools   exit 0 when both are there
#
# Environment:
#   DIST_TARGETS  GOOS/GOARCH list (default: the five release platforms and
#                 linux/amd64+pkcs11, the cgo build that can use PKCS#11 tokens);
#                 packages are made for each linux target without +pkcs11
#   DIST_OUT      output folder (default: dist), replaced only when complete
#   DIST_KEY      private key (file or pkcs11: URI): sign SHA256SUMS into
#                 SHA256SUMS.sig and SHA256SUMS.sigstore.json, and the provenance
#                 into provenance.intoto.jsonl; its password from DIST_PASSWORD_FILE,
#                 AIRLOCK_PASSWORD or the terminal
#   DIST_CC       C compiler of the +pkcs11 build (default: gcc on linux/amd64,
#                 else x86_64-linux-gnu-gcc)
#   VERSION       version to stamp (-X main.version); default: from the commit
#
# Reproducible (doc/design.md, "Reproducible releases"): the toolchain of
# go.mod exactly, -trimpath, fixed GOFLAGS and microarchitecture levels, no
# cgo except in the +pkcs11 build (whose C flags are fixed and which has no
# build IDs), -buildvcs, no time but the commit's (SOURCE_DATE_EPOCH), no
# serial numbers in the SBOMs. Everything is built in a folder outside the
# work tree, so that git sees the tree as it was checked out and every
# binary records vcs.modified=false.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

sbom_module=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
sbom_version=v1.10.0
# The package builder is a Go tool of its own module (scripts/nfpm/go.mod).
nfpm_version=$(awk '$1 == "github.com/goreleaser/nfpm/v2" {print $2}' scripts/nfpm/go.mod)

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
    grep -Eq "^[[:space:]]+build[[:space:]]+CGO_ENABLED=0\$" <<<"$info" &&
    GOPROXY=off go -C scripts/nfpm tool -n nfpm >/dev/null 2>&1
}
install_tools() {
  has_tools || {
    CGO_ENABLED=0 go install -trimpath "$sbom_module@$sbom_version"
    go -C scripts/nfpm tool nfpm --version >/dev/null
  }
}
nfpm() { CGO_ENABLED=0 go -C "$repo/scripts/nfpm" tool nfpm "$@"; }

case "${1:-}" in
  tools) install_tools; exit 0 ;;
  has-tools) has_tools; exit ;;
  "") ;;
  *) echo "usage: $0 [tools|has-tools]" >&2; exit 2 ;;
esac
install_tools

targets=${DIST_TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 linux/amd64+pkcs11}
out=${DIST_OUT:-dist}
out=${out%/}

vcs=false commit="" clean=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  vcs=true
  commit=$(git rev-parse HEAD)
  clean=$(git status --porcelain)
  if [ -n "$clean" ]; then
    echo "dist: warning: the work tree has uncommitted changes: the binaries record vcs.modified=true" >&2
  fi
  # Every time in the release (man pages, packages) is the commit's.
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
ldflags="-s -w"
if [ -n "${VERSION:-}" ]; then ldflags="$ldflags -X main.version=$VERSION"; fi
# The +pkcs11 build: cgo with these C flags exactly, no build IDs (Go's or
# the linker's), and the C compiler named in the provenance.
cgo_cflags="-O2 -g0"
cgo_ldflags=""
cc=${DIST_CC:-}
if [ -z "$cc" ]; then
  cc=gcc
  [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ] || cc=x86_64-linux-gnu-gcc
fi

# Build outside the work tree: a file appearing in it while the binaries
# are built would make the later ones record vcs.modified=true.
stage=$(mktemp -d "${TMPDIR:-/tmp}/airlock-dist.XXXXXX")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/airlock-dist-work.XXXXXX")
tmpout=""
cleanup() { rm -rf "$stage" "$scratch" ${tmpout:+"$tmpout"}; }
trap cleanup EXIT

goflags_of() { # the go build flags of a release binary
  echo "-trimpath -buildvcs=$vcs"
}
packaged=()
for t in $targets; do
  variant=""
  case $t in *+pkcs11) variant=pkcs11; t=${t%+pkcs11} ;; esac
  os=${t%/*} arch=${t#*/}
  name=airlock-$os-$arch${variant:+-$variant}
  [ "$os" = windows ] && name=$name.exe
  echo "dist: $name" >&2
  if [ "$variant" = pkcs11 ]; then
    [ "$t" = linux/amd64 ] || { echo "dist: +pkcs11 is built for linux/amd64 only, not $t" >&2; exit 2; }
    command -v "$cc" >/dev/null || {
      echo "dist: the +pkcs11 build needs a C compiler ($cc; set DIST_CC), or leave linux/amd64+pkcs11 out of DIST_TARGETS" >&2
      exit 1
    }
    CGO_ENABLED=1 CC=$cc CGO_CFLAGS=$cgo_cflags CGO_CPPFLAGS= CGO_CXXFLAGS= CGO_LDFLAGS=$cgo_ldflags \
      GOOS=$os GOARCH=$arch GOAMD64=v1 GOEXPERIMENT= \
      go build $(goflags_of) -ldflags "$ldflags -buildid= -extldflags=-Wl,--build-id=none" -o "$stage/$name" ./cmd/airlock
  else
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT= \
      go build $(goflags_of) -ldflags "$ldflags" -o "$stage/$name" ./cmd/airlock
    [ "$os" = linux ] && packaged+=("$arch")
  fi
  "$sbomtool" bin -json -std -noserial -notimestamp -output "$stage/${name%.exe}.cdx.json" "$stage/$name"
done

# The version the packages carry: VERSION, else the one the go command
# stamped from the commit (v0.0.0-<time>-<commit>).
pkg_version=${VERSION:-}
if [ -z "$pkg_version" ] && [ ${#packaged[@]} -gt 0 ]; then
  pkg_version=$(go version -m "$stage/airlock-linux-${packaged[0]}" | awk '$1 == "mod" {print $3}')
  case $pkg_version in v[0-9]*) ;; *) pkg_version=v0.0.0 ;; esac
fi

if [ ${#packaged[@]} -gt 0 ]; then
  # Man pages (gzipped) and completions, from the command tree the
  # binaries run, by a build of the same commit with -tags manpages.
  docs=$scratch/docs
  go build $(goflags_of) -tags manpages -ldflags "$ldflags" -o "$scratch/airlock-docs" ./cmd/airlock
  "$scratch/airlock-docs" -gzip -dir "$docs/man" -completions "$docs/completions"
  cp LICENSE "$docs/LICENSE"
  for arch in "${packaged[@]}"; do
    cp "$stage/airlock-linux-$arch" "$docs/airlock"
    for p in deb rpm; do
      PKG_ARCH=$arch PKG_VERSION=$pkg_version PKG_ROOT=$docs nfpm package --config airlock.yaml --packager $p --target "$stage/" >&2
    done
  done
  rm -f "$docs/airlock"
fi

(cd "$stage" && LC_ALL=C sha256sum -- * > SHA256SUMS)

# Nothing the build did may have changed the work tree.
if [ "$vcs" = true ] && [ -z "$clean" ] && [ -n "$(git status --porcelain)" ]; then
  echo "dist: the work tree changed during the build:" >&2
  git status --porcelain >&2
  exit 1
fi

if [ -n "${DIST_KEY:-}" ]; then
  params=(
    -param "GOTOOLCHAIN=$toolchain" -param "GOFLAGS=$GOFLAGS" -param "GOWORK=off"
    -param "GOAMD64=v1" -param "GOARM64=v8.0" -param "GOEXPERIMENT="
    -param "buildflags=$(goflags_of) -ldflags '$ldflags'"
    -param "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
  )
  case " $targets " in *+pkcs11*)
    params+=(-param "pkcs11.CC=$("$cc" --version | head -1)" -param "pkcs11.CGO_CFLAGS=$cgo_cflags"
      -param "pkcs11.CGO_LDFLAGS=$cgo_ldflags" -param "pkcs11.ldflags=$ldflags -buildid= -extldflags=-Wl,--build-id=none") ;;
  esac
  go run ./scripts/release -dir "$stage" -key "$DIST_KEY" ${DIST_PASSWORD_FILE:+-password-file "$DIST_PASSWORD_FILE"} \
    -commit "${commit:-unknown}" -version "$pkg_version" -targets "$targets" "${params[@]}" \
    -dep "pkg:golang/toolchain@$toolchain" \
    -dep "pkg:golang/$sbom_module@$sbom_version" \
    -dep "pkg:golang/github.com/goreleaser/nfpm/v2@$nfpm_version" \
    -dep "go.sum=sha256:$(sha256sum go.sum | cut -d' ' -f1)" \
    -dep "scripts/nfpm/go.sum=sha256:$(sha256sum scripts/nfpm/go.sum | cut -d' ' -f1)"
fi

mkdir -p "$(dirname "$out")"
tmpout=$(mktemp -d "$out.tmp.XXXXXX")
cp -p "$stage"/* "$tmpout"/
chmod 0755 "$tmpout"
rm -rf "$out"
mv "$tmpout" "$out"
tmpout=""
echo "dist: wrote $out:" >&2
cat "$out/SHA256SUMS"
