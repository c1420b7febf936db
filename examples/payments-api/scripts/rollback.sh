#!/bin/sh
# Runs only when a step failed: airlock has already made the previous release
# current again; restore the schema marker and restart it.
set -eu
echo "rolling back payments-api in $InstallRoot"
if [ -f "$InstallRoot/current/VERSION" ]; then
  cat "$InstallRoot/current/VERSION" > "$InstallRoot/db/schema-version"
fi
