#!/usr/bin/env bash
# Delta bundles on examples/payments-api, in a temporary folder: the zone
# applies release 2.4.1 in full and carries its receipt back; release
# 2.4.2 changes one page and rebuilds its (generated, 16 MiB) core
# library with one class changed; `build --since` the receipt ships only
# that, and the zone deploys exactly what the full bundle would.
set -euo pipefail
bin=$(cd "$(dirname "${1:-bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-delta-demo.XXXXXX")
cd "$work"
export GOTOOLCHAIN=auto AIRLOCK_PASSWORD=demo-release-password AIRLOCK_LEDGER="$work/ledger"
export PAYMENTS_DB_PASSWORD='demo-Db"s3cret&<4711>'
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
airlock() { say "airlock $*"; "$bin" "$@"; }
echo "demo folder: $work"

"$bin" key generate release >/dev/null
"$bin" key generate --no-password operator >/dev/null # the zone operator's own key
"$bin" zone init zone --zone pci-east --release-key release.pub --host app-01 --operator "Demo Admin" >/dev/null
trust=zone/hosts/app-01/trust.yaml
(cd "$repo" && go build -o "$work/demoservice" ./scripts/demoservice)
"$work/demoservice" -root "$work/srv/payments-api" -addr-file "$work/service.addr" &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/service.addr" ] && break; sleep 0.1; done
cp operator.pub zone/hosts/app-01/operator-demo.pub
printf 'variables:\n  InstallRoot: %s/srv/payments-api\n  Port: "%s"\noperators:\n  - { path: operator-demo.pub, name: Demo Operator }\n' "$work" "$(sed 's/.*://' service.addr)" >>"$trust"
"$bin" zone commit-policy --trust "$trust" --operator-key operator.key --receipt-out media >/dev/null

# The example, with a generated core library: random bytes, as compressed
# as a jar's.
cp -r "$repo/examples/payments-api" release
head -c $((16 << 20)) /dev/urandom >release/dist/payments-api/lib-payments-core.jar

airlock build release --key release.key -R zone/recipients.txt -o v1.airlock
airlock apply v1.airlock --trust "$trust" --operator-key operator.key --receipt-out media
say "the receipt carried back lists what the host now holds"
"$bin" receipt show "$(ls media/*.dsse.json | tail -n 1)" | grep -E '^(inventory|files) '

say "release 2.4.2: one page and VERSION edited, the core library rebuilt with one class changed"
sed -i 's/^version: 2.4.1/version: 2.4.2/' release/airlock.yaml
echo '<p>2.4.2</p>' >>release/dist/payments-api/static/index.html
sed -i 's/2.4.1/2.4.2/' release/dist/payments-api/VERSION
dd if=/dev/urandom of=release/dist/payments-api/lib-payments-core.jar bs=4096 count=1 seek=2000 conv=notrunc status=none
airlock build release --key release.key -R zone/recipients.txt -o v2-full.airlock --sequence 2
airlock build release --key release.key -R zone/recipients.txt -o v2-delta.airlock --sequence 2 --since media --zone-register zone/zone.yaml
airlock inspect v2-delta.airlock | grep -E '^(release|payload|delta) '

airlock apply v2-delta.airlock --trust "$trust" --operator-key operator.key --receipt-out media
"$bin" receipt show "$(ls media/*.dsse.json | tail -n 1)" | grep -E '^(delta|inventory) '
cmp release/dist/payments-api/lib-payments-core.jar srv/payments-api/current/lib-payments-core.jar
cmp release/dist/payments-api/static/index.html srv/payments-api/current/static/index.html

say "the auditor: both applies, the delta's base named, every chain from genesis"
"$bin" key generate --no-password auditor >/dev/null
airlock audit media --zone-register zone/zone.yaml --ledger ledger --ledger-key release.pub --state audit.state --state-key auditor.key --first-audit

full=$(stat -c %s v2-full.airlock) delta=$(stat -c %s v2-delta.airlock)
cat <<EOF2

delta demo complete
  full bundle   $full bytes
  delta bundle  $delta bytes ($(awk -v a="$delta" -v b="$full" 'BEGIN { printf "%.1f%%", 100 * a / b }') of the full one)
  deployed      $(readlink -f "$work/srv/payments-api/current"), identical to the release
EOF2
