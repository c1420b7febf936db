#!/usr/bin/env bash
# make fleet-demo: a zone of four hosts, rolled out to with Ansible over
# SSH, on this machine. Each host is a folder (its trust.yaml, receipt key,
# state and deploy root) behind an sshd of its own (Debian's
# openssh-server), on its own loopback address, 127.0.0.11 to .14, with
# host keys and a client key made for the demo; Ansible reaches every host
# with its ssh connection, as it would a real one:
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
#   FLEET_CONNECTION  ssh (the default where /usr/sbin/sshd is installed) or
#                     local (Ansible's local connection, for a machine without sshd)
#   FLEET_SSH_PORT    the hosts' port (default: one picked at random above 20000)
# The sshds are stopped when the demo ends, also when it fails.
set -euo pipefail
bin=$(cd "$(dirname "${1:?usage: fleet-demo.sh path/to/airlock}")" && pwd)/$(basename "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
example=$root/examples/fleet
work=${FLEET_DIR:-}
[ -n "$work" ] || work=$(mktemp -d)
work=$(cd "$work" && pwd)
command -v ansible-playbook >/dev/null || { echo "fleet-demo: ansible-playbook not found (Debian: apt-get install ansible)" >&2; exit 1; }
sshd=/usr/sbin/sshd
connection=${FLEET_CONNECTION:-}
if [ -z "$connection" ]; then
  connection=local
  [ -x "$sshd" ] && command -v ssh-keygen >/dev/null && connection=ssh
fi
hosts=(app-01 app-02 app-03 db-01)
# Ansible needs a UTF-8 locale; it takes its settings from the example's
# ansible.cfg alone and writes its temporary files under the demo.
export LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$example/ansible.cfg ANSIBLE_HOME=$work/.ansible \
  ANSIBLE_LOCAL_TEMP=$work/.ansible/tmp ANSIBLE_REMOTE_TEMP=$work/.ansible/remote ANSIBLE_NOCOLOR=1
export AIRLOCK_PASSWORD=fleet-demo-release AIRLOCK_LEDGER=$work/ledger
airlock() { "$bin" "$@"; }
say() { printf '\n== %s\n' "$*"; }
cd "$work"

# The hosts' sshds: one per host on its own loopback address, a host key
# each and one client key, all made here; known_hosts pins the host keys,
# so that the client checks each host as it would a real one.
sshd_pids=()
stop_hosts() {
  local pid
  for pid in "${sshd_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${sshd_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  sshd_pids=()
}
trap 'stop_hosts; [ -n "${FLEET_DIR:-}" ] || rm -rf "$work"' EXIT
start_hosts() {
  local ssh=$work/ssh user i=0 h addr port try
  user=$(id -un)
  mkdir -p "$ssh"
  chmod 700 "$ssh"
  ssh-keygen -q -t ed25519 -N '' -C fleet-demo-client -f "$ssh/client_key"
  cp "$ssh/client_key.pub" "$ssh/authorized_keys"
  : >"$ssh/known_hosts"
  : >"$ssh/hosts.yml"
  # sshd run by root needs its privilege separation directory.
  [ "$(id -u)" != 0 ] || mkdir -p /run/sshd
  port=${FLEET_SSH_PORT:-$((20000 + RANDOM % 20000))}
  for h in "${hosts[@]}"; do
    i=$((i + 1))
    addr=127.0.0.$((10 + i))
    mkdir -p "$ssh/$h"
    ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$ssh/$h/host_key"
    {
      echo "ListenAddress $addr:$port"
      echo "HostKey $ssh/$h/host_key"
      echo "PidFile none"
      echo "AuthorizedKeysFile $ssh/authorized_keys"
      echo "AuthenticationMethods publickey"
      echo "PasswordAuthentication no"
      echo "KbdInteractiveAuthentication no"
      echo "PermitRootLogin prohibit-password"
      echo "AllowUsers $user"
      echo "StrictModes no"
      echo "UsePAM no"
      echo "X11Forwarding no"
      echo "Subsystem sftp internal-sftp"
      echo "LogLevel INFO"
      # A race-built airlock (the tests') sleeps at every exit unless told not to.
      if [ -n "${GORACE:-}" ]; then echo "SetEnv GORACE=\"$GORACE\""; fi
    } >"$ssh/$h/sshd_config"
    "$sshd" -D -e -f "$ssh/$h/sshd_config" 2>"$ssh/$h/sshd.log" &
    sshd_pids+=($!)
    echo "[$addr]:$port $(cut -d' ' -f1-2 "$ssh/$h/host_key.pub")" >>"$ssh/known_hosts"
    printf '    %s: { ansible_host: %s, ansible_port: %s }\n' "$h" "$addr" "$port" >>"$ssh/hosts.yml"
  done
  # Wait until every host answers; a port taken by something else ends the demo.
  i=0
  for h in "${hosts[@]}"; do
    i=$((i + 1))
    for try in $(seq 100); do
      ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i "$ssh/client_key" -o UserKnownHostsFile="$ssh/known_hosts" \
        -o StrictHostKeyChecking=yes -p "$port" "$user@127.0.0.$((10 + i))" true 2>/dev/null && break
      if [ "$try" = 100 ]; then
        echo "fleet-demo: $h's sshd does not answer on 127.0.0.$((10 + i)):$port (FLEET_SSH_PORT=… picks another port):" >&2
        cat "$ssh/$h/sshd.log" >&2
        exit 1
      fi
      sleep 0.1
    done
  done
  # How Ansible reaches each host: its ssh connection, as this user, with
  # the demo's keys only, and no connection kept open after a task.
  {
    echo "all:"
    echo "  vars:"
    echo "    ansible_connection: ssh"
    echo "    ansible_user: $user"
    echo "    ansible_ssh_private_key_file: $ssh/client_key"
    echo "    ansible_ssh_common_args: -F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=$ssh/known_hosts -o StrictHostKeyChecking=yes"
    echo "    ansible_ssh_args: -o ControlMaster=no"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "  hosts:"
    cat "$ssh/hosts.yml"
  } >"$work/connection.yml"
  echo "${hosts[*]}: each behind its own sshd on 127.0.0.11-14, port $port, reached with Ansible's ssh connection"
}
local_hosts() {
  printf 'all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: "{{ ansible_playbook_python }}"\n' >"$work/connection.yml"
  echo "${hosts[*]}: folders of this machine, reached with Ansible's local connection (FLEET_CONNECTION=local)"
}

say "the hosts"
case $connection in
  ssh) start_hosts ;;
  local) local_hosts ;;
  *) echo "fleet-demo: FLEET_CONNECTION=$connection: want ssh or local" >&2; exit 2 ;;
esac

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
  ansible-playbook -i "$example/inventory.yml" -i "$work/connection.yml" "$example/$1" -e "fleet_root=$work" -e "airlock_bin=$bin" \
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
