#!/bin/sh
# Refuse to start when the install root cannot be written.
set -eu
mkdir -p "$InstallRoot"
if [ ! -w "$InstallRoot" ]; then
  echo "install root $InstallRoot is not writable" >&2
  exit 1
fi
echo "preflight ok: $InstallRoot writable, release $AIRLOCK_RELEASE_VERSION"
