#!/usr/bin/env bash
# Waits until the journal quorum reached through <host:port> is healthy
# (every member answers, a leader is elected, writes are possible), then
# prints `pact cluster`. Exit 0 when healthy, 5 when still degraded after
# the wait.
#
#   bootstrap-quorum.sh mgmt-1:9443 [seconds, default 60]
#
# Needs a token: PACT_TOKEN or ~/.config/pact/token (a viewer role is enough).
set -uo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
endpoint=$1 wait=${2:-60}
pact=${PACT_BIN:-$(dirname "$0")/../bin/pact}
deadline=$((SECONDS + wait))
while :; do
  if "$pact" --endpoint "http://$endpoint" cluster >/dev/null 2>&1; then
    "$pact" --endpoint "http://$endpoint" cluster
    exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    "$pact" --endpoint "http://$endpoint" cluster
    echo "bootstrap-quorum.sh: the quorum is not healthy after ${wait} s" >&2
    exit 5
  fi
  sleep 2
done
