#!/usr/bin/env bash
# Check a release the way its users do, with stock tools only (sha256sum,
# cosign, dpkg, rpm, go version -m), offline:
#
#   scripts/dist-check.sh DIR RELEASE.pub [--clean]
#
#   1. SHA256SUMS lists every file of DIR but the signatures, and matches;
#   2. SHA256SUMS.sig and the Sigstore bundle SHA256SUMS.sigstore.json verify
#      with cosign verify-blob and the release key;
#   3. provenance.intoto.jsonl verifies with cosign verify-blob-attestation
#      (--type https://slsa.dev/provenance/v1) for every file it covers;
#   4. each binary names its commit; with --clean, every binary and the
#      packages' record vcs.modified=false and no +dirty version;
#   5. each .deb installs with dpkg into an empty root, each .rpm with rpm
#      --nodeps into another (rpm -qip where rpm cannot install), with the
#      binary, the man pages (EXIT STATUS, ENVIRONMENT), the completions and
#      the LICENSE in their places, and the installed airlock runs
#      (`airlock version`) where this machine can run it.
set -euo pipefail
dir=${1:?usage: dist-check.sh DIR RELEASE.pub [--clean]}
pub=$(cd "$(dirname "${2:?usage: dist-check.sh DIR RELEASE.pub [--clean]}")" && pwd)/$(basename "$2")
clean=${3:-}
cd "$dir"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Nothing here may reach the network: a proxy that is not there, and
# cosign's TUF cache in the scratch folder.
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= no_proxy= \
  TUF_ROOT=$scratch/tuf SIGSTORE_NO_CACHE=true
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

# 1. The checksums.
listed=$(awk '{print $2}' SHA256SUMS | sort)
present=$(ls | grep -vxE 'SHA256SUMS|SHA256SUMS\.sig|SHA256SUMS\.sigstore\.json|provenance\.intoto\.jsonl' | sort)
[ "$listed" = "$present" ] || fail "SHA256SUMS lists $(echo $listed), the folder holds $(echo $present)"
sha256sum --quiet --strict -c SHA256SUMS || fail "sha256sum -c SHA256SUMS"
ok "SHA256SUMS: $(wc -l <SHA256SUMS) files match"

# 2. The signature, detached and as a Sigstore bundle. cosign 3 verifies a
# key's bundle offline as is; cosign 2 needs --new-bundle-format and a
# trusted root, which for a key alone is empty.
cosign verify-blob --key "$pub" --signature SHA256SUMS.sig --insecure-ignore-tlog=true SHA256SUMS 2>/dev/null ||
  fail "cosign verify-blob --signature SHA256SUMS.sig"
ok "SHA256SUMS.sig (cosign verify-blob)"
bundle_args=()
if cosign version 2>/dev/null | grep -Eq '^GitVersion: +v2\.'; then
  echo '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}' >"$scratch/trusted_root.json"
  bundle_args=(--new-bundle-format --trusted-root "$scratch/trusted_root.json")
fi
cosign verify-blob --key "$pub" --bundle SHA256SUMS.sigstore.json "${bundle_args[@]}" --insecure-ignore-tlog=true SHA256SUMS 2>/dev/null ||
  fail "cosign verify-blob --bundle SHA256SUMS.sigstore.json"
ok "SHA256SUMS.sigstore.json (cosign verify-blob --bundle)"

# 3. The provenance, for every file.
for f in $listed SHA256SUMS; do
  cosign verify-blob-attestation --key "$pub" --type https://slsa.dev/provenance/v1 \
    --signature provenance.intoto.jsonl --insecure-ignore-tlog=true "$f" >/dev/null 2>&1 ||
    fail "cosign verify-blob-attestation: the provenance does not cover $f"
done
ok "provenance.intoto.jsonl covers all $(($(wc -l <SHA256SUMS) + 1)) files (cosign verify-blob-attestation)"

# 4. The stamps.
for f in $listed; do
  case $f in airlock-*.cdx.json | *.deb | *.rpm) continue ;; esac
  info=$(go version -m "$f")
  grep -Eq '^[[:space:]]+build[[:space:]]+vcs.revision=[0-9a-f]{40}$' <<<"$info" || fail "$f names no commit"
  if [ "$clean" = --clean ]; then
    grep -Eq '^[[:space:]]+build[[:space:]]+vcs.modified=false$' <<<"$info" || fail "$f: $(grep vcs.modified <<<"$info")"
    ! grep -Eq '^[[:space:]]+mod[[:space:]].*\+dirty' <<<"$info" || fail "$f: $(grep -E '^\s+mod\s' <<<"$info")"
  fi
  ok "$f: $(awk '$1 == "mod" {print $3}' <<<"$info"), $(grep -oE 'vcs.modified=[a-z]+' <<<"$info")"
done

# 5. The packages.
host=$(uname -m)
check_root() { # ROOT PACKAGE: what a package installed
  local root=$1 pkg=$2 page
  [ -x "$root/usr/bin/airlock" ] || fail "$pkg: no /usr/bin/airlock"
  for c in airlock.1.gz airlock-apply.1.gz airlock-audit.1.gz airlock-zone-commit-policy.1.gz; do
    page=$root/usr/share/man/man1/$c
    [ -f "$page" ] || fail "$pkg: no man page $c"
    zcat "$page" | grep -q '^\.SH EXIT STATUS' || fail "$pkg: $c has no EXIT STATUS"
    zcat "$page" | grep -q '^\.SH ENVIRONMENT' || fail "$pkg: $c has no ENVIRONMENT"
  done
  zcat "$root/usr/share/man/man1/airlock-apply.1.gz" | grep -q '^\.TH "AIRLOCK-APPLY" "1"' || fail "$pkg: airlock-apply.1 is not titled AIRLOCK-APPLY(1)"
  [ -s "$root/usr/share/bash-completion/completions/airlock" ] || fail "$pkg: no bash completion"
  [ -s "$root/usr/share/fish/vendor_completions.d/airlock.fish" ] || fail "$pkg: no fish completion"
  ls "$root"/usr/share/zsh/*/_airlock >/dev/null || fail "$pkg: no zsh completion"
  grep -q 'Apache License' "$root/usr/share/doc/airlock/LICENSE" || fail "$pkg: no LICENSE"
  if [ "$clean" = --clean ]; then
    ! go version -m "$root/usr/bin/airlock" | grep -Eq 'vcs.modified=true|\+dirty' || fail "$pkg: the binary says it was built from a modified tree"
  fi
}
runs_here() { # ARCH as dpkg or rpm names it
  case "$host:$1" in x86_64:amd64 | x86_64:x86_64 | aarch64:arm64 | aarch64:aarch64) return 0 ;; esac
  return 1
}
for deb in *.deb; do
  [ -e "$deb" ] || continue
  arch=$(dpkg-deb -f "$deb" Architecture)
  root=$scratch/deb-$arch
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  : >"$root/var/lib/dpkg/status"
  force=(--force-architecture)
  [ "$(id -u)" = 0 ] || force+=(--force-not-root)
  dpkg --root="$root" --log=/dev/null "${force[@]}" -i "$deb" >/dev/null || fail "dpkg -i $deb"
  dpkg --root="$root" -s airlock | grep -q '^Status: install ok installed' || fail "$deb: dpkg says it is not installed"
  check_root "$root" "$deb"
  if runs_here "$arch"; then
    "$root/usr/bin/airlock" version | sed -n 1,2p | sed "s|^|     $deb: |"
  fi
  ok "$deb ($arch): installed with dpkg into an empty root"
done
for rpm in *.rpm; do
  [ -e "$rpm" ] || continue
  arch=$(rpm -qp --qf '%{ARCH}' "$rpm" 2>/dev/null)
  root=$scratch/rpm-$arch
  mkdir -p "$root"
  if rpm --root "$root" --initdb 2>/dev/null && rpm -i --nodeps --ignorearch --root "$root" "$rpm" 2>/dev/null; then
    rpm --root "$root" -V airlock || fail "rpm -V: the installed files do not match $rpm"
    how="installed with rpm --nodeps into an empty root"
  else
    # rpm cannot install here (not root): what it would install, unpacked.
    rpm -qip "$rpm" >/dev/null || fail "rpm -qip $rpm"
    (cd "$root" && rpm2cpio "$OLDPWD/$rpm" | cpio -idm --quiet) || fail "rpm2cpio $rpm"
    how="read with rpm -qip and unpacked (rpm cannot install as $(id -un))"
  fi
  check_root "$root" "$rpm"
  if runs_here "$arch"; then
    "$root/usr/bin/airlock" version | sed -n 1,2p | sed "s|^|     $rpm: |"
  fi
  ok "$rpm ($arch): $how"
done
echo "dist-check: $dir passed"
