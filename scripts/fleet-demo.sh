#!/usr/bin/env bash
# make fleet-demo: a zone of four hosts, rolled out to with Ansible, on this
# machine. Each host is a folder (its trust.yaml, receipt key, state and
# deploy root) that Ansible reaches with a local connection:
#
#   1. zone init --host app-01 --roles web, zone host add app-02, app-03
#      (web) and db-01 (db): the register (zone.yaml) and every host's folder;
#   2. each host's deploy root committed to its policy;
#   3. shop 1.0 and 1.1 built for role:web, encrypted to recipients.txt;
#   4. ansible-playbook rollout.yml: 1.0 to the web hosts, one at a time;
#   5. rollout.yml again with 1.1, whose health check fails on app-02: app-01
#      applies it, app-02 rolls back to 1.0, and the rollout stops there —
#      app-03 is never reached (FLEET_SERIAL=2 FLEET_MAX_FAIL=50 lets it go on);
#   6. ansible-playbook collect.yml: every host's receipts into one media
#      folder, audited with the zone register and the builder's ledger.
#
# Usage: scripts/fleet-demo.sh BIN   (FLEET_DIR=… keeps the files there)
set -euo pipefail
bin=$(cd "$(dirname "${1:?usage: fleet-demo.sh path/to/airlock}")" && pwd)/$(basename "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
example=$root/examples/fleet
work=${FLEET_DIR:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
command -v ansible-playbook >/dev/null || { echo "fleet-demo: ansible-playbook not found (Debian: apt-get install ansible)" >&2; exit 1; }
# Ansible needs a UTF-8 locale; it takes its settings from the example's
# ansible.cfg alone and writes its temporary files under the demo.
export LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$example/ansible.cfg ANSIBLE_HOME=$work/.ansible \
  ANSIBLE_LOCAL_TEMP=$work/.ansible/tmp ANSIBLE_REMOTE_TEMP=$work/.ansible/remote ANSIBLE_NOCOLOR=1
export AIRLOCK_PASSWORD=fleet-demo-release AIRLOCK_LEDGER=$work/ledger
airlock() { "$bin" "$@"; }
say() { printf '\n== %s\n' "$*"; }
cd "$work"

say "a zone of named hosts: app-01, app-02, app-03 (web) and db-01 (db)"
airlock key generate release >/dev/null
airlock key generate --no-password operator >/dev/null
airlock zone init zone --zone pci-east --release-key release.pub --host app-01 --roles web --operator "Olga Operator"
# The zone's operator co-signs receipts; the hosts added next copy the policy.
cp operator.pub zone/hosts/app-01/keys/operator.pub
printf 'operators:\n  - { path: keys/operator.pub, name: Olga Operator }\n' >>zone/hosts/app-01/trust.yaml
for h in app-02 app-03; do airlock zone host add zone --host $h --roles web --operator "Olga Operator" | sed -n 1p; done
airlock zone host add zone --host db-01 --roles db --operator "Olga Operator" | sed -n 1p

say "each host's deploy root, committed to its chain"
for h in app-01 app-02 app-03 db-01; do
  printf 'variables:\n  Root: %s/srv/%s\n' "$work" $h >>zone/hosts/$h/trust.yaml
  # app-01's commit also records its new operator: a weakening, which the
  # audit lists (the hosts added after it had the operator from the start).
  note="CHG-419 deploy root"
  [ $h = app-01 ] && note="CHG-419 operator key and deploy root"
  airlock zone commit-policy --trust zone/hosts/$h/trust.yaml --operator "Olga Operator" --operator-key operator.key \
    --note "$note" | tail -1
done

say "shop 1.0 and 1.1 for role:web, encrypted to zone/recipients.txt"
mkdir -p media
for v in 1.0 1.1; do
  airlock build "$example/shop-$v" --key release.key -R zone/recipients.txt -o media/shop-$v.airlock | tail -1
done

playbook() {
  ansible-playbook -i "$example/inventory.yml" "$example/$1" -e "fleet_root=$work" -e "airlock_bin=$bin" \
    -e "airlock_operator_key=$work/operator.key" "${@:2}"
}

say "rollout of shop 1.0 to the web hosts"
playbook rollout.yml -e airlock_bundle=shop-1.0.airlock

say "rollout of shop 1.1: serial ${FLEET_SERIAL:-1}, max_fail_percentage ${FLEET_MAX_FAIL:-0}"
rc=0
playbook rollout.yml -e airlock_bundle=shop-1.1.airlock -e "airlock_serial=${FLEET_SERIAL:-1}" \
  -e "airlock_max_fail_percentage=${FLEET_MAX_FAIL:-0}" || rc=$?
echo "rollout exit code: $rc (2: a host failed, and the rollout stopped or went on as configured)"

say "every host's receipts into media/receipts, and the audit"
playbook collect.yml

say "the audit, per host: the ledger, the warnings and errors, the chains"
airlock audit media/receipts --zone-register zone/zone.yaml --ledger ledger |
  awk '/^(LEDGER|FINDINGS|ZONES)/ {show = 1} /^(ENTRIES|PCI)/ {show = 0} /^PASS|^FAIL/ {show = 1} show && !/^info /'

say "where each web host is now"
for h in app-01 app-02 app-03; do
  printf '%s  current -> %s\n' $h "$(readlink "srv/$h/current")"
done
echo "media: $(find media/receipts -name '*.dsse.json' | wc -l) receipts of $(ls zone/hosts | wc -l) hosts"
if [ -n "${FLEET_DIR:-}" ]; then
  echo "kept in $work: the zone (zone/), the hosts' deploy roots (srv/), the media and the HTML report (media/audit.html)"
else
  echo "(FLEET_DIR=DIR keeps the zone, the hosts and the HTML report of the audit)"
fi
