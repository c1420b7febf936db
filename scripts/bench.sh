#!/usr/bin/env bash
# bench.sh [BIN] — airlock build, verify and apply next to the standard tools
# doing the same work, measured in one run as ratios (airlock / reference):
#
#   build   airlock build              tar -cf - | zstd -T0 -3 | age -r R
#   verify  airlock verify             openssl dgst -sha256 of the parts
#   apply   airlock apply              age -d | zstd -d | tar -x && sync
#
# on a mixed release (incompressible blobs, log-like text, a tree of small
# files) and (build and apply) on a release of small files of 1-4 KiB. Each pair runs BENCH_RUNS times
# (default 3), alternating airlock and reference (A B A B …), and the table
# gives medians: wall time, CPU time (user + system, children included) and
# peak RSS (for a pipeline, its largest process), with the load average
# before each run. Every run's figures are in the log named at the end.
#
# and (build and apply) on ten container images sharing base layers, pulled
# from a registry and pushed into the zone's (two docker-registry
# instances on 127.0.0.1):
#
#   build   airlock build              skopeo copy each to an OCI layout; tar | zstd -T0 -3 | age
#   apply   airlock apply (push: all)  age -d | zstd -d | tar -x; skopeo copy each to the registry
#
#   BENCH_SIZES  sizes of the mixed release in MiB (default 1024; bench-large: "1024 8192")
#   BENCH_IMAGES size of the images in MiB (default 1024; 0, or no docker-registry
#                and skopeo: none)
#   BENCH_FILES  file counts of the small-file release (default 50000; bench-large: 100000)
#   BENCH_RUNS   runs per contender (default 3)
#   BENCH_DIR    work folder (default .bench; generated releases are kept for reruns)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$repo/bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
work=${BENCH_DIR:-$repo/.bench}
sizes=${BENCH_SIZES:-1024}
counts=${BENCH_FILES:-50000}
runs=${BENCH_RUNS:-3}
export GOTOOLCHAIN=auto AIRLOCK_PASSWORD=bench AIRLOCK_LEDGER="$work/ledger"
for tool in age zstd tar openssl /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool not found (go install filippo.io/age/cmd/...@v1.3.2; apt-get install zstd openssl time)" >&2
    exit 1
  }
done

mkdir -p "$work"
run="$work/run"
rm -rf "$run" "$work/ledger"
mkdir -p "$run"
log="$work/bench.log"
: >"$log"
cd "$run"
"$bin" key generate release >/dev/null # encrypted, as a builder keeps it
"$bin" key generate plain --no-password >/dev/null
"$bin" zone init zone --zone bench --release-key release.pub >/dev/null
printf 'variables:\n  Root: %s/srv\n' "$run" >>zone/trust.yaml
images=${BENCH_IMAGES:-1024}
if [ "$images" -gt 0 ] && { [ ! -x /usr/bin/docker-registry ] || ! command -v skopeo >/dev/null; }; then
  echo "bench: no docker-registry or skopeo: no images row" >&2
  images=0
fi
regpids=()
zonepid=""
trap 'for p in "${regpids[@]}" $zonepid; do kill "$p" 2>/dev/null || true; done' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# registry NAME PORT: a docker-registry storing in $run/NAME, started anew.
registry() {
  rm -rf "$run/$1"
  mkdir -p "$run/$1"
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/%s/data}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
    "$run" "$1" "$2" >"$run/$1.yml"
  /usr/bin/docker-registry serve "$run/$1.yml" >"$run/$1.log" 2>&1 &
  echo $!
  for _ in $(seq 100); do (: >"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return; sleep 0.1; done
}
if [ "$images" -gt 0 ]; then
  up_port=$(freeport) zone_port=$(freeport)
  regpids+=("$(registry upstream "$up_port")")
  zonepid=$(registry zonereg "$zone_port")
  printf 'registry: {url: "http://127.0.0.1:%s", prefix: mirror/}\n' "$zone_port" >>zone/trust.yaml
fi
# The zone records the changed policy in its receipt chain before it applies.
"$bin" zone commit-policy --trust zone/trust.yaml --operator "Bench Admin" >/dev/null
# Every apply starts from this state: the chain's genesis and the policy.
cp -a zone/state "$run/state0"
recipient=$(cat zone/zone.recipient)

# measure NAME CMD…: one timed run, appended to the log as
# "NAME wall cpu rss_kib load".
measure() {
  local name=$1 load
  shift
  sync
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$run/time" "$@" >/dev/null 2>"$run/stderr" || {
    cat "$run/stderr" >&2
    echo "bench: $name failed" >&2
    exit 1
  }
  read -r wall usr sys rss <"$run/time"
  echo "$name $wall $(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }') $rss $load" >>"$log"
}

# release DIR ARGS…: generate a release for benchdata ARGS unless it exists,
# and warm the page cache with it.
release() {
  local dir=$1
  shift
  if [ ! -f "$dir/airlock.yaml" ]; then
    echo "bench: generating $dir" >&2
    (cd "$repo" && go run ./scripts/benchdata -o "$dir" "$@")
  fi
  find "$dir/dist" -type f -exec cat {} + >/dev/null
}

# aside: moves the outputs of the last apply out of the way. Deleting
# thousands of files just before the next run would slow its creation of
# files (ext4 skips inodes freed moments ago), for whichever contender runs
# next; they are deleted at the end instead, while the disk has room.
aside=0
aside() {
  aside=$((aside + 1))
  mkdir -p "$run/trash/$aside"
  local d
  for d in srv zone/state dest; do
    if [ -e "$d" ]; then mv "$d" "$run/trash/$aside/"; fi
  done
  cp -a "$run/state0" zone/state
  # Below 30 GiB free, delete now rather than fill the disk.
  if [ "$(df -Pk "$run" | awk 'NR == 2 { print $4 }')" -lt $((30 << 20)) ]; then
    echo "bench: little disk space left: deleting outputs between runs" >&2
    rm -rf "$run/trash"
  fi
}

# pair LABEL: runs the build, verify and apply pairs on the release $rel.
pair() {
  local label=$1 i
  for i in $(seq "$runs"); do
    rm -rf bundle
    measure "$label|build|airlock" "$bin" build "$rel" --key release.key -r "$recipient" -o bundle
    rm -f base.age
    measure "$label|build|reference" sh -c "tar -cf - -C '$rel/dist' . | zstd -T0 -3 -q | age -r '$recipient' > base.age"
  done
  echo "$label|size $(stat -c %s bundle/payload.age) $(stat -c %s base.age)" >>"$log"
  # The same build with a key kept without a password: the build's own
  # memory, without the 64 MiB that decrypting the key takes (scrypt).
  rm -rf plain-bundle
  measure "$label|plainkey" "$bin" build "$rel" --key plain.key -r "$recipient" -o plain-bundle
  rm -rf plain-bundle
  for i in $(seq "$runs"); do
    case $label in files-*) break ;; esac
    measure "$label|verify|airlock" "$bin" verify bundle --trust zone/trust.yaml
    measure "$label|verify|reference" openssl dgst -sha256 bundle/payload.age
  done
  for i in $(seq "$runs"); do
    aside
    measure "$label|apply|airlock" "$bin" apply bundle --trust zone/trust.yaml
    aside
    measure "$label|apply|reference" sh -c "mkdir dest && age -d -i zone/zone.agekey base.age | zstd -d -q | tar -x -C dest && sync"
  done
  aside
  rm -rf bundle base.age
}

for mib in $sizes; do
  rel="$work/release-$mib"
  release "$rel" -mib "$mib"
  pair "mixed-$mib"
done
for n in $counts; do
  rel="$work/files-$n"
  release "$rel" -files "$n"
  pair "files-$n"
done

# The zone's registry is emptied before each apply, so that each pushes
# every blob.
zone_reset() {
  kill "$zonepid" 2>/dev/null || true
  wait "$zonepid" 2>/dev/null || true
  zonepid=$(registry zonereg "$zone_port")
}
if [ "$images" -gt 0 ]; then
  label="images-$images"
  (cd "$repo" && go run ./scripts/imageseed -registry "127.0.0.1:$up_port" -bench 10 -mib "$images") >/dev/null
  img="$run/images"
  mkdir -p "$img"
  {
    printf 'apiVersion: airlock/v1\nname: bench-images\nversion: "1.0"\ntargets: [zone:bench]\nimages:\n'
    for i in $(seq 0 9); do printf "  - {name: img-%d, ref: '127.0.0.1:%s/bench/img-%d:1'}\n" "$i" "$up_port" "$i"; done
    # The zone gives Root a value (the other releases' deploy root).
    printf 'variables:\n  Root: { value: /nonexistent }\nsteps:\n  - name: publish\n    push: all\n'
  } >"$img/airlock.yaml"
  for i in $(seq "$runs"); do
    rm -rf bundle
    measure "$label|build|airlock" "$bin" build "$img" --key release.key -r "$recipient" -o bundle
    rm -rf base.age layout
    measure "$label|build|reference" sh -c "for i in \$(seq 0 9); do skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$up_port/bench/img-\$i:1 oci:layout:img-\$i || exit 1; done; tar -cf - -C layout . | zstd -T0 -3 -q | age -r '$recipient' > base.age"
  done
  echo "$label|size $(stat -c %s bundle/payload.age) $(stat -c %s base.age)" >>"$log"
  for i in $(seq "$runs"); do
    aside
    zone_reset
    measure "$label|apply|airlock" "$bin" apply bundle --trust zone/trust.yaml
    aside
    zone_reset
    measure "$label|apply|reference" sh -c "mkdir dest && age -d -i zone/zone.agekey base.age | zstd -d -q | tar -x -C dest && for i in \$(seq 0 9); do skopeo copy -q --dest-tls-verify=false oci:dest:img-\$i docker://127.0.0.1:$zone_port/mirror/bench/img-\$i:1 || exit 1; done"
  done
  aside
  rm -rf bundle base.age layout
  kill "$zonepid" 2>/dev/null || true
fi

rm -rf "$run/trash"

# Decrypting the password-protected key alone: a build of one small file.
mkdir -p tiny/dist
echo hello >tiny/dist/hello.txt
sed -n '/^apiVersion/,$p' "$rel/airlock.yaml" >tiny/airlock.yaml
measure "key|keyonly" "$bin" build tiny --key release.key -r "$recipient" -o tiny-bundle

# The table: medians per contender, ratios airlock / reference.
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/2^20}' /proc/meminfo), $(cd "$repo" && go version | cut -d' ' -f3); $runs runs each, alternating"
awk '
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
$1 ~ /\|size$/ { sub(/\|size$/, "", $1); size[$1] = $2 / $3; next }
$1 ~ /\|(plainkey|keyonly)$/ { split($1, k, "|"); extra[k[1] "|" k[2]] = $4; next }
{
  split($1, k, "|"); row = k[1] "|" k[2]
  if (!(row in seen)) { seen[row] = 1; order[++rows] = row }
  wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " $3; rss[$1] = rss[$1] " " $4
  load[row] = load[row] " " $5
}
END {
  goal["build"] = "time <= 0.80"; goal["apply"] = "time <= 1.00"; goal["verify"] = "time <= 1.11"
  goal["files build"] = "time <= 1.00"; goal["files apply"] = "time <= 1.00"
  goal["images build"] = "time <= 1.00"; goal["images apply"] = "time <= 1.00"
  printf "%-26s %8s %8s %7s %7s %12s %6s  %-25s %s\n", "work", "airlock", "ref", "time", "CPU", "RSS MiB", "size", "goal", "load"
  for (i = 1; i <= rows; i++) {
    row = order[i]; split(row, k, "|"); a = row "|airlock"; r = row "|reference"
    wa = median(wall[a]); wr = median(wall[r])
    n = split(load[row], l, " "); lo = l[1]; hi = l[1]
    for (j = 2; j <= n; j++) { if (l[j] + 0 < lo + 0) lo = l[j]; if (l[j] + 0 > hi + 0) hi = l[j] }
    sz = (k[2] == "build" && (k[1] in size)) ? sprintf("%.3f", size[k[1]]) : "-"
    g = (k[1] ~ /^(files|images)/ && ((lab0 = substr(k[1], 1, index(k[1], "-") - 1)) " " k[2]) in goal) ? goal[lab0 " " k[2]] : goal[k[2]]
    if (sz != "-") g = g ", size <= 1.03"
    split(k[1], lab, "-")
    name = lab[1] == "mixed" ? sprintf("%g GiB mixed", lab[2] / 1024) : lab[1] == "images" ? sprintf("%g GiB images", lab[2] / 1024) : sprintf("%d small files", lab[2])
    printf "%-26s %7.2fs %7.2fs %7.2f %7.2f %5.0f / %-4.0f %6s  %-25s %s-%s\n", name " " k[2], wa, wr,
      (wr > 0 ? wa / wr : 0), median(cpu[a]) / (median(cpu[r]) > 0 ? median(cpu[r]) : 1),
      median(rss[a]) / 1024, median(rss[r]) / 1024, sz, g, lo, hi
    if (lab[1] == "mixed") { t[k[2], lab[2] + 0] = wa; if (lab[2] + 0 > big) big = lab[2] + 0 }
  }
  for (e in extra) if (e !~ /^key/) {
    split(e, k, "|"); split(k[1], lab, "-")
    name = lab[1] == "mixed" ? sprintf("%g GiB mixed", lab[2] / 1024) : sprintf("%d small files", lab[2])
    printf "peak RSS of the %s build with a key without password: %.0f MiB\n", name, extra[e] / 1024
  }
  if ("key|keyonly" in extra)
    printf "peak RSS of a build of one small file with the password-protected key (scrypt): %.0f MiB\n", extra["key|keyonly"] / 1024
  for (op in goal) if (big > 1024 && ((op, 1024) in t) && ((op, big) in t))
    printf "linearity: %s %g GiB / 1 GiB = %.2f (goal <= %.1f)\n", op, big / 1024, t[op, big] / t[op, 1024], big / 1024 * 8.5 / 8
}' "$log"
echo
echo "time and CPU: airlock / reference (lower is better); RSS: airlock / reference's largest process;"
echo "size: airlock's payload / the reference's output (both age-encrypted zstd -3); goals from issue 13,"
echo "and peak RSS <= 64 MiB. Every run: $log"
