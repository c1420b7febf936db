#!/usr/bin/env bash
# bench-audit.sh [N…] — measure `airlock audit` over N chained receipts
# (default 10000 and 100000; two zones, a ledger, one deployed file list in
# five applies): wall time, CPU time and peak RSS of the airlock process
# for table, JSON, JSON lines and HTML output, with --state.
#
# The receipts are generated (and signed) once per N in a temporary folder
# by the audit package's test helpers; the figures are measured on the
# built binary with GNU time (Debian package "time"), so they include
# process start-up and exclude the generation. The peak RSS must stay
# within the audit's targets (10,000 receipts: 48 MiB, 100,000: 128 MiB);
# the script fails otherwise.
set -euo pipefail
export GOTOOLCHAIN=auto

cd "$(dirname "$0")/.."
gnutime=/usr/bin/time
if ! "$gnutime" -f %M true >/dev/null 2>&1; then
  echo "bench-audit: GNU time is needed at $gnutime (apt-get install time)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

go build -o "$work/airlock" ./cmd/airlock
status=0
for n in ${@:-10000 100000}; do
  case "$n" in
    10000) max=48 ;;
    100000) max=128 ;;
    *) max=0 ;;
  esac
  dir="$work/n$n"
  AIRLOCK_BENCH_DIR="$dir" AIRLOCK_BENCH_N="$n" \
    go test ./audit/ -run '^TestBenchGenerate$' -count=1 -v -timeout 60m | grep -E '^(generated|--- FAIL|FAIL)'
  [ -f "$work/auditor.key" ] || "$work/airlock" key generate --no-password "$work/auditor" >/dev/null
  base=(audit "$dir/receipts" --key "$dir/keys/receipt-pci-east.pub" --key "$dir/keys/receipt-pci-west.pub"
    --ledger "$dir/ledger" --ledger-key "$dir/keys/builder.pub" --state "$dir/audit.state" --state-key "$work/auditor.key")
  for mode in table json jsonl html; do
    case "$mode" in
      table) extra=(--first-audit) ;;
      json) extra=(--json) ;;
      jsonl) extra=(--jsonl) ;;
      html) extra=(--html "$dir/report.html") ;;
    esac
    "$gnutime" -o "$work/time" -f '%e %U %S %M' "$work/airlock" "${base[@]}" "${extra[@]}" >"$work/out" 2>"$work/err" ||
      { echo "audit failed:"; tail -5 "$work/err"; exit 1; }
    read -r wall user sys kib <"$work/time"
    rss=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
    printf 'audit %d receipts, %-5s wall %6.2fs  cpu %6.2fs  peak RSS %6.1f MiB  output %s\n' "$n" "$mode" "$wall" \
      "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$rss" "$(du -h "$work/out" | cut -f1)"
    if [ "$max" -gt 0 ] && awk -v r="$rss" -v m="$max" 'BEGIN { exit !(r > m) }'; then
      echo "over the limit: $mode peaked at $rss MiB, the target for $n receipts is $max MiB"
      status=1
    fi
  done
  echo "html report $(du -h "$dir/report.html" | cut -f1)"
  rm -rf "$dir"
done
exit $status
