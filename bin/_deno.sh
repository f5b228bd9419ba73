# Sourced by the bin/ scripts: finds the repository root and the pinned deno
# (the native binary npm installs under node_modules/@deno/<platform>/).
# shellcheck shell=sh
PACT_ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
DENO=""
for candidate in "$PACT_ROOT"/node_modules/@deno/*/deno "$PACT_ROOT/node_modules/deno/deno" "${PACT_DENO:-}"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    DENO=$candidate
    break
  fi
done
if [ -z "$DENO" ]; then
  echo "$(basename -- "$0"): the pinned deno is not installed: run 'npm ci' in $PACT_ROOT first" >&2
  exit 1
fi
export DENO_NO_UPDATE_CHECK=1
