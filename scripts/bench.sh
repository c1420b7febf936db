#!/usr/bin/env bash
# Throughput of airlock build, verify and apply on a ~1 GiB release, next to
# the standard tools doing the same work, measured in one run:
#   build  vs  tar | zstd -T0 -3 | age -r
#   apply  vs  age -d | zstd -d | tar -x && sync
# MB/s are per byte of file content (10^6 bytes). BENCH_MIB changes the size;
# BENCH_DIR the work folder (default .bench, kept for reruns).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$repo/bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
work=${BENCH_DIR:-$repo/.bench}
mib=${BENCH_MIB:-1024}
export GOTOOLCHAIN=auto AIRLOCK_PASSWORD=bench AIRLOCK_LEDGER="$work/ledger"
for tool in age zstd tar; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (go install filippo.io/age/cmd/...@v1.3.2; apt-get install zstd)" >&2; exit 1; }
done
mkdir -p "$work"
if [ ! -f "$work/release-$mib/airlock.yaml" ]; then
  echo "generating a ${mib} MiB release in $work/release-$mib"
  (cd "$repo" && go run ./scripts/benchdata -o "$work/release-$mib" -mib "$mib")
fi
rel="$work/release-$mib"
bytes=$(find "$rel/dist" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$rel/dist" -type f | wc -l)
run="$work/run"
rm -rf "$run" "$work/ledger"
mkdir -p "$run"
cd "$run"
"$bin" key generate release >/dev/null
"$bin" zone init zone --zone bench --release-key release.pub >/dev/null
printf 'variables:\n  Root: %s/srv\n' "$run" >> zone/trust.yaml
recipient=$(cat zone/zone.recipient)

# Warm the page cache so every contender reads the same way.
find "$rel/dist" -type f -exec cat {} + >/dev/null

results=()
timeit() { # name command...
  local name=$1; shift
  local rss="" cpu="" start end
  start=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%M %U %S' -o "$run/rss" "$@" >/dev/null
    read -r rss usr sys < <(tail -n 1 "$run/rss")
    cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  else
    "$@" >/dev/null
  fi
  end=$(date +%s.%N)
  results+=("$(awk -v n="$name" -v s="$start" -v e="$end" -v b="$bytes" -v r="$rss" -v c="$cpu" \
    'BEGIN { t = e - s; rs = (r == "") ? "-" : sprintf("%d", r/1024); cs = (c == "") ? "-" : c; printf "%-48s %8.2f s %9.1f MB/s %8s s %8s MiB", n, t, b/1e6/t, cs, rs }')")
}

timeit "airlock build (hash, zstd -3, age, sign, fsync)" "$bin" build "$rel" --key release.key -r "$recipient" -o bundle
timeit "tar | zstd -T0 -3 | age -r" sh -c "tar -cf - -C '$rel/dist' . | zstd -T0 -3 -q | age -r '$recipient' > base.age"
timeit "airlock verify (signature + sha256 of parts)" "$bin" verify bundle --trust zone/trust.yaml
timeit "sha256sum of the payload" sha256sum bundle/payload.age
sync
timeit "airlock apply (verify, extract, deploy, fsync)" "$bin" apply bundle --trust zone/trust.yaml
timeit "age -d | zstd -d | tar -x && sync" sh -c "mkdir -p dest && age -d -i zone/zone.agekey base.age | zstd -d -q | tar -x -C dest && sync"

echo
echo "data: $files files, $bytes bytes of content ($(awk -v b="$bytes" 'BEGIN{printf "%.2f GiB", b/2^30}')); bundle $(du -sh bundle | cut -f1)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/2^20}' /proc/meminfo), $(go version | cut -d' ' -f3)"
printf '%-48s %10s %14s %10s %12s\n' "operation" "wall" "throughput" "CPU" "peak RSS"
printf '%s\n' "${results[@]}"
