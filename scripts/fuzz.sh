#!/usr/bin/env bash
# Run every Go fuzz target in the module for a while each.
set -euo pipefail
export GOTOOLCHAIN=auto
time=${1:-20s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "== $pkg $target"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time"
  done
done
