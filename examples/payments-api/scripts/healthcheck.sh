#!/bin/sh
# Check that the deployed release is current and its configuration is complete.
set -eu
current="$InstallRoot/current"
grep -q '"listen": ":'"$Port"'"' "$current/config/app.json"
if grep -q '#{' "$current/config/app.json"; then
  echo "unresolved variables in app.json" >&2
  exit 1
fi
"$current/bin/payments-api"
