#!/usr/bin/env bash
# Run every Go fuzz target in the module for a while each (default 20s).
# -fuzzminimizetime 0: the fuzzer does not stop to minimize each new input,
# which with slow targets (a whole extraction, an audit) left them barely
# executing within a short run. A failing input is still written to
# testdata/fuzz/<Target>/ to reproduce it; minimize it by hand if need be.
set -euo pipefail
export GOTOOLCHAIN=auto
time=${1:-20s}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "== $pkg $target"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 0
  done
done
