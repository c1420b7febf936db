#!/usr/bin/env bash
# The whole mission on examples/payments-api, in a temporary folder, with no
# root and no network: keys and a zone → build → inspect → approve → verify
# → plan → apply → receipt verify → replay (already applied) → audit.
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
airlock zone init zone --zone pci-east --release-key release.pub --approve-key approver.pub
# The zone decides where the service lives (no root needed for the demo),
# and the port it listens on: a stand-in service, polled by the release's
# health check, answers there with the version current under the root.
(cd "$repo" && go build -o "$work/demoservice" ./scripts/demoservice)
"$work/demoservice" -root "$work/srv/payments-api" -addr-file "$work/service.addr" &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/service.addr" ] && break; sleep 0.1; done
port=$(sed 's/.*://' "$work/service.addr")
printf 'variables:\n  InstallRoot: %s/srv/payments-api\n  Port: "%s"\n' "$work" "$port" >> zone/trust.yaml

airlock build "$repo/examples/payments-api" --key release.key --recipients-file zone/zone.recipient -o drop
airlock inspect drop
airlock sign drop --role approve --key approver.key --verify-key release.pub
airlock verify drop --trust zone/trust.yaml

# --- inside the zone --------------------------------------------------------
airlock plan drop --trust zone/trust.yaml
airlock apply drop --trust zone/trust.yaml --operator "Demo Operator" --note "CHG-1234 window" --receipt-out media/receipts
receipt=$(ls media/receipts/*.dsse.json | head -n 1)
airlock receipt verify "$receipt" --key zone/receipt.pub --bundle drop
say "the same bundle again is a replay: nothing runs, the receipt says so"
"$bin" apply drop --trust zone/trust.yaml --operator "Demo Operator" --receipt-out media/receipts
airlock status --trust zone/trust.yaml
airlock history --trust zone/trust.yaml

# The secret never left the payload except into the files it configures.
if grep -rq "$PAYMENTS_DB_PASSWORD" media zone/state/receipts ledger drop 2>/dev/null; then
  echo "demo: the sensitive value leaked outside the payload" >&2
  exit 1
fi

# --- back outside: the auditor ----------------------------------------------
if "$bin" audit --help >/dev/null 2>&1; then
  airlock audit media/receipts --key zone/receipt.pub --ledger ledger --html report.html
fi

cat <<EOF2

demo complete
  deployed release  $(readlink -f "$work/srv/payments-api/current")
  receipts          $work/media/receipts
  zone state        $work/zone/state
  audit report      $work/report.html
EOF2
