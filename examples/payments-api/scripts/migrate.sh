#!/bin/sh
# Apply database migrations. Stand-in: records the schema version the
# release expects, using the database credentials from the environment.
set -eu
: "${DbPassword:?DbPassword is not set}"
mkdir -p "$InstallRoot/db"
echo "migrating $DbHost to schema of $AIRLOCK_RELEASE_VERSION"
echo "$AIRLOCK_RELEASE_VERSION" > "$InstallRoot/db/schema-version"
