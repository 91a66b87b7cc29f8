#!/usr/bin/env bash
# The demo: a whole event lifecycle of the `demo` event (schedules/demo.toml) against the
# local AWS emulator -- no AWS account needed. validate -> bootstrap -> plan -> deploy ->
# start -> status -> links -> stop -> teardown -> status, each step printed.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"

ensure_emulator_venv
echo "building ottd (the first build of the AWS SDK takes several minutes)"
cargo build --quiet --bin ottd
ottd="$CARGO_TARGET_DIR/debug/ottd"

work=$(mktemp -d)
trap 'stop_background; rm -rf "$work"' EXIT
start_emulator "$work"
url=$EMULATOR_URL
echo "AWS emulator on $url"

# Dummy credentials: the emulator accepts any. The state file is the demo's own.
export AWS_ENDPOINT_URL="$url" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
export OTTD_CONFIG="$OTTD_ROOT/config/ottd.toml" OTTD_STATE="$work/ottd.db"

step() {
  echo
  echo "\$ ottd $*"
  "$ottd" "$@"
}
step validate
step bootstrap
step plan demo
step deploy demo
step deploy demo          # again: nothing new
step start demo
step status demo
step links demo
step stop demo
step teardown demo
step status demo
echo
echo "demo finished: the event was deployed, put on air, stopped and torn down."
