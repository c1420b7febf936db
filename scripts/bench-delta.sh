#!/usr/bin/env bash
# bench-delta.sh [BIN] — a full bundle against a delta bundle built
# --since the receipts of the host that applied the release before, on a
# realistic upgrade of a release of BENCH_DELTA_MIB MiB (default 1024):
#
#   three jars of 50/1024 of the release each, rebuilt with one class
#   changed (a few KiB in the middle and the central directory at the end);
#   a data file of 200/1024 of it with 1/200 of it changed in the middle;
#   the rest in 64 KiB files, 2% of them edited.
#
# (At 1024 MiB: three 50 MiB jars, a 200 MiB data file with 1 MiB changed,
# 674 MiB of small files. Images are not part of this bench.) All content
# is random, so compression does not hide what is shipped. It reports, in
# one run: the delta's size against the full bundle's, its build and
# apply times against the full bundle's (each applied on the same host
# state, after release 1 was applied), peak RSS of each, and the size of
# an unchanged re-release's delta beyond its manifest.
#
#   BENCH_DELTA_MIB  the release's size in MiB (default 1024)
#   BENCH_DIR        work folder (default .bench-delta)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$repo/bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
mib=${BENCH_DELTA_MIB:-1024}
work=${BENCH_DIR:-$repo/.bench-delta}
export AIRLOCK_PASSWORD=bench AIRLOCK_LEDGER="$work/ledger"
command -v /usr/bin/time >/dev/null || { echo "bench-delta: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
cd "$work"
log="$work/bench-delta.log"
: >"$log"
"$bin" key generate release >/dev/null
"$bin" zone init zone --zone bench --release-key release.pub --host h1 >/dev/null
trust=zone/hosts/h1/trust.yaml
printf 'variables:\n  Root: %s/srv\n' "$work" >>"$trust"
"$bin" zone commit-policy --trust "$trust" --operator "Bench Admin" >/dev/null

# measure NAME CMD…: one timed run, as "NAME wall rss_kib" in the log.
measure() {
  local name=$1
  shift
  sync
  /usr/bin/time -f '%e %M' -o time.out "$@" >/dev/null 2>stderr.out || {
    cat stderr.out >&2
    echo "bench-delta: $name failed" >&2
    exit 1
  }
  read -r wall rss <time.out
  echo "$name $wall $rss" >>"$log"
}
get() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$log"; }
size() { stat -c %s "$1"; }

# patch FILE OFFSET BYTES: overwrite BYTES random bytes at OFFSET.
patch() { dd if=/dev/urandom of="$1" bs=1 count="$3" seek="$2" conv=notrunc status=none; }

echo "bench-delta: generating a release of $mib MiB" >&2
jar=$((mib * 50 * 1024 / 1024)) # KiB
data=$((mib * 200 * 1024 / 1024))
small=$((mib * 1024 - 3 * jar - data))
mkdir -p rel/dist/lib rel/dist/small
for j in 1 2 3; do head -c $((jar * 1024)) /dev/urandom >rel/dist/lib/app$j.jar; done
head -c $((data * 1024)) /dev/urandom >rel/dist/data.bin
head -c $((small * 1024)) /dev/urandom | (cd rel/dist/small && split -b 65536 -a 5 - f-)
cat >rel/airlock.yaml <<'YAML'
apiVersion: airlock/v1
name: shop
version: "1"
targets: [zone:bench]
packages:
  - name: app
    path: dist
variables:
  Root: { value: /nonexistent }
steps:
  - name: install
    deploy: app
    to: "#{Root}"
YAML

build() { # build NAME ARGS…
  local name=$1
  shift
  measure "build-$name" "$bin" build rel --key release.key -R zone/recipients.txt -o "$name.airlock" "$@"
}
apply() { # apply NAME BUNDLE
  measure "apply-$1" "$bin" apply "$2" --trust "$trust" --receipt-out media
}

build v1
apply v1 v1.airlock
mkdir snap && cp -a zone srv snap/ # release 1 applied, store included (hard links kept)

echo "bench-delta: the upgrade" >&2
sed -i 's/^version: .*/version: "2"/' rel/airlock.yaml
for j in 1 2 3; do
  f=rel/dist/lib/app$j.jar
  patch "$f" $((jar * 512)) 4096                 # one class, in the middle
  patch "$f" $((jar * 1024 - 65536)) 65536       # the central directory
done
patch rel/dist/data.bin $((data * 512)) $((data * 1024 / 200))
n=0
for f in rel/dist/small/*; do
  n=$((n + 1))
  if [ $((n % 50)) -eq 0 ]; then patch "$f" 100 200; fi
done
build v2full --sequence 2
build v2delta --sequence 2 --force --since media --zone-register zone/zone.yaml
apply v2full v2full.airlock
rm -rf zone srv
cp -a snap/zone snap/srv .
rm -rf media && mkdir media && cp -a zone/hosts/h1/state/receipts/. media/
apply v2delta v2delta.airlock
cmp -s srv/current/data.bin rel/dist/data.bin || { echo "bench-delta: the delta deployed another data.bin" >&2; exit 1; }
diff -r srv/current rel/dist >/dev/null || { echo "bench-delta: the delta deployed another release" >&2; exit 1; }

echo "bench-delta: an unchanged re-release" >&2
sed -i 's/^version: .*/version: "3"/' rel/airlock.yaml
build v3full --sequence 3
build v3delta --sequence 3 --force --since media --zone-register zone/zone.yaml
"$bin" inspect v3delta.airlock --json >inspect.json
manifest=$(awk -F: '/"name": "manifest.json"/ { getline; gsub(/[ ,]/, "", $2); print $2; exit }' inspect.json)

full=$(size v2full.airlock) delta=$(size v2delta.airlock)
v3full=$(size v3full.airlock) v3delta=$(size v3delta.airlock)
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f%%", 100 * a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.1f MiB", a / 1048576 }'; }
kib() { awk -v a="$1" 'BEGIN { printf "%.1f KiB", a / 1024 }'; }
{
  echo "delta bundles: a $mib MiB release, one upgrade (BENCH_DELTA_MIB=$mib)"
  printf '%-34s %14s %14s %10s  %s\n' "" full delta ratio goal
  printf '%-34s %14s %14s %10s  %s\n' "bundle size" "$(mb "$full")" "$(mb "$delta")" "$(pct "$delta" "$full")" "<= 3%"
  printf '%-34s %13ss %13ss %10s  %s\n' "build time" "$(get build-v2full 2)" "$(get build-v2delta 2)" "$(ratio "$(get build-v2delta 2)" "$(get build-v2full 2)")" "<= 0.5"
  printf '%-34s %13ss %13ss %10s  %s\n' "apply time" "$(get apply-v2full 2)" "$(get apply-v2delta 2)" "$(ratio "$(get apply-v2delta 2)" "$(get apply-v2full 2)")" "<= 1.0"
  printf '%-34s %10s KiB %10s KiB %10s  %s\n' "peak RSS, build" "$(get build-v2full 3)" "$(get build-v2delta 3)" "" "<= 98304 KiB"
  printf '%-34s %10s KiB %10s KiB %10s  %s\n' "peak RSS, apply" "$(get apply-v2full 3)" "$(get apply-v2delta 3)" "" "<= 98304 KiB"
  printf '%-34s %14s %14s %10s  %s\n' "re-release, beyond the manifest" "$(mb "$v3full")" "$(kib $((v3delta - manifest)))" "$(pct $((v3delta - manifest)) "$v3full")" "<= 0.5%"
  echo "(manifest of the re-release's delta: $manifest bytes; every run: $log)"
}
