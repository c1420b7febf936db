#!/usr/bin/env bash
# The whole mission on examples/payments-api, in a temporary folder, with no
# root and no network: keys and a zone (its genesis record) → a policy
# change, committed → build → inspect → approve → verify → plan → apply,
# co-signed by the operator → receipt verify → replay (already applied) →
# audit with --state → a receipt goes missing → the next audit names it.
set -euo pipefail
bin=$(cd "$(dirname "${1:-bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
cd "$work"

export AIRLOCK_PASSWORD=demo-release-password   # the release key's password
export AIRLOCK_LEDGER="$work/ledger"             # the builder's ledger
# A sensitive variable, read at build time; its " & < > need the JsonEscape
# filter the example's app.json uses to stay valid JSON.
export PAYMENTS_DB_PASSWORD='demo-Db"s3cret&<4711>'

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
airlock() { say "airlock $*"; "$bin" "$@"; }

echo "demo folder: $work"

# --- trusted side -----------------------------------------------------------
airlock key generate release
airlock key generate --no-password approver
airlock key generate --no-password operator     # the zone operator's own key
airlock zone init zone --zone pci-east --release-key release.pub --approve-key approver.pub --operator "Demo Admin"
# The zone decides where the service lives (no root needed for the demo),
# the port it listens on (a stand-in service, polled by the release's
# health check, answers there with the version current under the root),
# and names the operator whose key co-signs receipts.
(cd "$repo" && go build -o "$work/demoservice" ./scripts/demoservice)
"$work/demoservice" -root "$work/srv/payments-api" -addr-file "$work/service.addr" &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/service.addr" ] && break; sleep 0.1; done
port=$(sed 's/.*://' "$work/service.addr")
cp operator.pub zone/keys/operator-demo.pub
# The zone also logs less than the release's default: a structured
# variable (a key path in appsettings.json) given a zone value.
printf 'variables:\n  InstallRoot: %s/srv/payments-api\n  Port: "%s"\n  "Logging:LogLevel:Default": Warning\noperators:\n  - { path: keys/operator-demo.pub, name: Demo Operator }\n' "$work" "$port" >> zone/trust.yaml
say "an edited trust.yaml is refused until the change is committed to the receipt chain"
"$bin" zone commit-policy --trust zone/trust.yaml --operator-key operator.key \
  --note "CHG-1200 deploy root and operator key" --receipt-out media/receipts

airlock build "$repo/examples/payments-api" --key release.key --recipients-file zone/zone.recipient -o drop
airlock inspect drop
airlock sign drop --role approve --key approver.key --verify-key release.pub
airlock verify drop --trust zone/trust.yaml

# --- inside the zone --------------------------------------------------------
airlock plan drop --trust zone/trust.yaml
airlock apply drop --trust zone/trust.yaml --operator-key operator.key --note "CHG-1234 window" --receipt-out media/receipts
receipt=$(ls media/receipts/*.dsse.json | sed -n 3p)
airlock receipt verify "$receipt" --key zone/receipt.pub --bundle drop
say "the same bundle again is a replay: nothing runs, the receipt says so"
"$bin" apply drop --trust zone/trust.yaml --operator-key operator.key --receipt-out media/receipts
airlock status --trust zone/trust.yaml
airlock history --trust zone/trust.yaml

say "the deployed configuration: the zone's log level in appsettings.json, the config that holds the secret 0640"
config="$work/srv/payments-api/current/config"
ls -l "$config"
grep -n '"Default"\|MaxConcurrentConnections\|"Refunds"' "$config/appsettings.json"
if ! grep -q '"Default": "Warning"' "$config/appsettings.json" || ! grep -q '"MaxConcurrentConnections": 500,' "$config/appsettings.json" ||
  ! grep -q '"Refunds": true' "$config/appsettings.json"; then
  echo "demo: appsettings.json does not hold the structured values" >&2
  exit 1
fi
if [ -n "$(find "$config" -type f ! -perm 0640)" ]; then
  echo "demo: a config file is not mode 0640:" >&2
  find "$config" -type f ! -perm 0640 >&2
  exit 1
fi

# The secret never left the payload except into the files it configures.
if grep -rq "$PAYMENTS_DB_PASSWORD" media zone/state/receipts ledger drop 2>/dev/null; then
  echo "demo: the sensitive value leaked outside the payload" >&2
  exit 1
fi

# --- back outside: the auditor ----------------------------------------------
# The first audit keeps each chain's head in audit.state, signed with the
# auditor's key, and signs its result; the folder carried out holds the
# chain from its genesis record.
airlock key generate --no-password auditor
audit=(audit media/receipts --key zone/receipt.pub --ledger ledger --ledger-key release.pub --state audit.state --state-key auditor.key)
airlock "${audit[@]}" --first-audit --html report.html --attest audit.intoto.json --attest-key auditor.key

say "the newest receipt goes missing from the media: the folder alone would pass, the state does not"
newest=$(ls media/receipts/*.dsse.json | tail -n 1)
rm "$newest"
set +e
"$bin" "${audit[@]}" --jsonl | grep '"kind":"truncated"'
code=${PIPESTATUS[0]}
set -e
if [ "$code" -ne 3 ]; then
  echo "demo: the audit of a truncated chain exited $code, want 3" >&2
  exit 1
fi

say "carried out again, the chain reaches the head the state recorded"
cp "zone/state/receipts/$(basename "$newest")" media/receipts/
airlock "${audit[@]}"

cat <<EOF2

demo complete
  deployed release  $(readlink -f "$work/srv/payments-api/current")
  receipts          $work/media/receipts
  zone state        $work/zone/state
  audit report      $work/report.html
  audit state       $work/audit.state
  attestation       $work/audit.intoto.json
EOF2
