#!/usr/bin/env bash
# Installs pact-journal on a management node, as one member of the journal
# quorum (or a read replica), from a pact checkout at /opt/pact.
#
#   install-management.sh <node-id> <host> <peers> [--bootstrap | --read-only]
#
#   PEERS="1=mgmt-1:9443,2=mgmt-2:9443,3=mgmt-3:9443"
#   install-management.sh 1 mgmt-1 "$PEERS" --bootstrap   # node 1, first install only
#   install-management.sh 2 mgmt-2 "$PEERS"               # joins the quorum
#   install-management.sh r1 mgmt-4 "$PEERS" --read-only  # read replica
#
# Ports: 9443 gRPC, 9444 Raft (etcd peer), 9445 etcd client, 9091 metrics.
# The etcd member is configured by pact-journal itself; nothing to edit.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 3 ] || usage
node_id=$1 host=$2 peers=$3 mode=${4:-}
case "$mode" in ""|--bootstrap|--read-only) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "install-management.sh: run as root" >&2; exit 1; }
prefix=${PACT_PREFIX:-/opt/pact}
[ -x "$prefix/bin/pact-journal" ] || {
  echo "install-management.sh: no pact checkout at $prefix (clone it there and run npm ci)" >&2
  exit 1
}

if [ "$mode" != "--read-only" ] && ! command -v etcd >/dev/null 2>&1; then
  echo "== installing etcd (the journal quorum's Raft store)"
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq etcd-server
    # pact-journal runs its own member; the distribution's service must not.
    systemctl disable --now etcd.service 2>/dev/null || true
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y etcd && systemctl disable --now etcd.service 2>/dev/null || true
  else
    echo "install-management.sh: install etcd (3.4 or later) and re-run" >&2
    exit 1
  fi
fi

id pact >/dev/null 2>&1 || useradd --system --home-dir /var/lib/pact --shell /usr/sbin/nologin pact
install -d -m 0755 /etc/pact
install -d -m 0700 -o pact -g pact /var/lib/pact /var/lib/pact/journal

env_file=/etc/pact/journal.env
if [ -f "$env_file" ] && [ "$mode" = "--bootstrap" ]; then
  echo "install-management.sh: $env_file exists: this node was installed before." >&2
  echo "  --bootstrap is for the first install of node 1 only; re-run without it." >&2
  exit 1
fi
{
  echo "# Written by install-management.sh on $(date -u +%FT%TZ)"
  echo "PACT_JOURNAL_NODE_ID=$node_id"
  echo "PACT_JOURNAL_LISTEN=0.0.0.0:9443"
  echo "PACT_JOURNAL_DATA_DIR=/var/lib/pact/journal"
  echo "PACT_JOURNAL_PEERS=$peers"
  echo "PACT_JOURNAL_ARGS=$mode"
  grep -E '^PACT_OIDC_' "$env_file" 2>/dev/null || true
} >"$env_file.new"
mv "$env_file.new" "$env_file"
chmod 0640 "$env_file"

[ -f /etc/pact/journal.toml ] || install -m 0644 "$prefix/deploy/config/journal.toml" /etc/pact/journal.toml
install -m 0644 "$prefix/deploy/systemd/pact-journal.service" /etc/systemd/system/pact-journal.service
systemctl daemon-reload
systemctl enable --now pact-journal.service

if [ "$mode" = "--bootstrap" ]; then
  # The quorum exists now; later restarts must join, not found a new one.
  sed -i 's/^PACT_JOURNAL_ARGS=--bootstrap$/PACT_JOURNAL_ARGS=/' "$env_file"
fi
echo "pact-journal installed on $host as node $node_id${mode:+ ($mode)}."
echo "Check the quorum with: $prefix/deploy/bootstrap-quorum.sh $host:9443"
