#!/usr/bin/env bash
# Container images across the gap, in a temporary folder, with no root and
# no network beyond 127.0.0.1: an "upstream" registry holds two images
# sharing a base layer (a busybox binary) and a Helm-chart-like OCI
# artifact; the build pulls them by digest into one OCI layout in the
# bundle (each blob once); in the zone a push step copies them into the
# zone's own registry (with a test CA's TLS and a password), and the
# receipt records where each went. Needs Debian's docker-registry and
# skopeo; cosign (when installed) signs web upstream and the build checks it.
set -euo pipefail
bin=$(cd "$(dirname "${1:-bin/airlock}")" && pwd)/$(basename "${1:-bin/airlock}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-images-demo.XXXXXX")
cd "$work"
export AIRLOCK_PASSWORD=demo-release-password AIRLOCK_LEDGER="$work/ledger"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
airlock() { say "airlock $*"; "$bin" "$@"; }
for tool in /usr/bin/docker-registry skopeo python3 openssl; do
  command -v "$tool" >/dev/null || { echo "images-demo needs $tool (Debian: docker-registry, skopeo, python3, openssl)" >&2; exit 1; }
done
echo "demo folder: $work"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
# registry NAME PORT [EXTRA-CONFIG]: a docker-registry of its own.
registry() {
  mkdir -p "$1"
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/%s/data}}\nhttp:\n  addr: 127.0.0.1:%s\n%s' \
    "$work" "$1" "$2" "${3:-}" >"$1/config.yml"
  /usr/bin/docker-registry serve "$1/config.yml" >"$1/log" 2>&1 &
  pids+=($!)
}

# --- upstream, on the trusted side -------------------------------------------
up=127.0.0.1:$(freeport)
registry upstream "${up#*:}"
# The zone's registry: TLS from a CA of the zone's own, htpasswd auth.
zone_port=$(freeport)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=demo-zone-ca \
  -keyout zone-ca.key -out zone-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout reg.key -out reg.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in reg.csr -CA zone-ca.pem -CAkey zone-ca.key -CAcreateserial -days 2 -extfile san.ext -out reg.pem 2>/dev/null
mkdir -p zonereg
(cd "$repo" && go build -o "$work/imageseed" ./scripts/imageseed)
"$work/imageseed" -htpasswd airlock:demo-registry-password >zonereg/htpasswd
registry zonereg "$zone_port" "  tls: {certificate: $work/reg.pem, key: $work/reg.key}
auth: {htpasswd: {realm: zone, path: $work/zonereg/htpasswd}}
"
for _ in $(seq 100); do
  { (: >"/dev/tcp/127.0.0.1/${up#*:}") && (: >"/dev/tcp/127.0.0.1/$zone_port"); } 2>/dev/null && break
  sleep 0.1
done
"$work/imageseed" -registry "$up"

airlock key generate release
airlock key generate --no-password operator
airlock zone init zone --zone pci-east --release-key release.pub
mkdir -p zone/secrets && printf 'demo-registry-password\n' >zone/secrets/registry-password && chmod 600 zone/secrets/registry-password
cp zone-ca.pem zone/registry-ca.pem
cp operator.pub zone/keys/operator-demo.pub
printf 'registry:\n  url: https://127.0.0.1:%s\n  caFile: registry-ca.pem\n  username: airlock\n  password: { fromFile: secrets/registry-password }\n  prefix: mirror/\noperators:\n  - { path: keys/operator-demo.pub, name: Demo Operator }\n' \
  "$zone_port" >>zone/trust.yaml
"$bin" zone commit-policy --trust zone/trust.yaml --operator-key operator.key --note "CHG-2000 the zone's registry" >/dev/null

mkdir rel
verify=""
if command -v cosign >/dev/null; then
  say "upstream signs web with cosign (simple signing, no transparency log); the build checks it"
  (cd rel && COSIGN_PASSWORD= cosign generate-key-pair --output-key-prefix shop >/dev/null 2>&1)
  digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$up/shop/web:1.4.2")
  COSIGN_PASSWORD= cosign sign --key rel/shop.key --tlog-upload=false --use-signing-config=false --new-bundle-format=false \
    --allow-http-registry --yes "$up/shop/web@$digest" >/dev/null 2>&1
  rm rel/shop.key
  verify=", verify: {key: shop.pub}"
fi
cat >rel/airlock.yaml <<YAML
apiVersion: airlock/v1
name: shop
version: 1.4.2
targets: [zone:pci-east]
change: { ticket: CHG-2001, reason: shop 1.4.2 images }
images:
  - { name: web, ref: '$up/shop/web:1.4.2'$verify }
  - { name: api, ref: '$up/shop/api:2.0.1' }
  - { name: chart, ref: '$up/charts/shop:0.3.0' }
steps:
  - name: publish images
    push: all
  - name: compose file
    run: |
      printf 'services:\n  web: { image: "%s" }\n  api: { image: "%s" }\n' '#{Airlock.Images.web.Reference}' '#{Airlock.Images.api.Reference}'
YAML
cat rel/airlock.yaml

airlock build rel --key release.key --recipients-file zone/zone.recipient -o drop
airlock inspect drop
say "the bundle carries the shared base layer once"
python3 - drop <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
total = sum(b["size"] for im in m["images"] for b in im["blobs"])
once = {b["digest"]: b["size"] for im in m["images"] for b in im["blobs"]}
print(f"images {total} bytes as pulled, {sum(once.values())} bytes with each blob once")
PY

# --- inside the zone --------------------------------------------------------
airlock plan drop --trust zone/trust.yaml
airlock apply drop --trust zone/trust.yaml --operator-key operator.key --receipt-out media/receipts
airlock status --trust zone/trust.yaml
receipt=$(ls media/receipts/*.dsse.json | tail -1)
airlock receipt show "$receipt"
say "skopeo reads what airlock pushed into the zone's registry"
mkdir -p certs && cp zone-ca.pem certs/zone-ca.crt
skopeo inspect --cert-dir certs --creds airlock:demo-registry-password --format '{{.Name}} {{.Digest}}' \
  "docker://127.0.0.1:$zone_port/mirror/shop/web:1.4.2"
airlock images export all --bundle drop --trust zone/trust.yaml --to oci
skopeo inspect --format '{{.Digest}}' oci:oci:api
echo
echo "images demo done: $work"
