#!/usr/bin/env bash
# bench-audit.sh [N] — measure `airlock audit` over N chained receipts
# (default 10000, two zones, with a ledger): wall time and peak RSS of the
# airlock process for table, JSON and HTML output.
#
# The receipts are generated (and signed) once per run in a temporary folder
# by the audit package's test helpers; the figures are measured on the built
# binary as a child process (getrusage), so they include process start-up
# and exclude the generation.
set -euo pipefail
export GOTOOLCHAIN=auto

n="${1:-10000}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

go build -o "$work/airlock" ./cmd/airlock
AIRLOCK_BENCH_BIN="$work/airlock" AIRLOCK_BENCH_N="$n" \
  go test ./verify/audit/ -run '^TestBenchAuditCLI$' -count=1 -v -timeout 20m |
  grep -E '^(generated|audit|html report|--- FAIL|FAIL|ok)'
