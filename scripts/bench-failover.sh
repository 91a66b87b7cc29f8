#!/usr/bin/env bash
# Failover benchmark: two `ottd run` daemons on one shared state; the one holding an event's
# lease is killed (kill -9) in the middle of a deploy, and the time until the other takes the
# lease over (its first action on the event) is measured, TRIALS times (default 20).
# BACKEND=dynamodb (default, the table on the emulator) or sqlite (one shared file);
# LEASE=duration,renew_deadline,retry (default 15s,10s,2s, the shipped settings).
# Target: max <= lease duration + 2 s. A debug build is enough: the figure is lease time.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
cargo build --quiet --bin ottd
work=$(mktemp -d)
trap 'stop_background; rm -rf "$work"' EXIT
start_emulator "$work"
"$OTTD_VENV/bin/python" benches/failover_bench.py --ottd "$CARGO_TARGET_DIR/debug/ottd" \
  --emulator "$EMULATOR_URL" --python "$OTTD_VENV/bin/python" --root "$OTTD_ROOT" \
  --trials "${TRIALS:-20}" --backend "${BACKEND:-dynamodb}" --lease "${LEASE:-15s,10s,2s}"
