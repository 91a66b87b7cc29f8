#!/usr/bin/env bash
# What the shared state costs on DynamoDB: a pair of `ottd run` daemons on the emulator runs one
# event's whole lifecycle, then idles with 20 events configured; every DynamoDB request is
# counted by the delay proxy and priced at on-demand rates for 20 events a day.
# Target: under $1 a month. A debug build is enough: the figures are request counts.
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
"$OTTD_VENV/bin/python" benches/state_cost_bench.py --ottd "$CARGO_TARGET_DIR/debug/ottd" \
  --emulator "$EMULATOR_URL" --python "$OTTD_VENV/bin/python" --root "$OTTD_ROOT" \
  --idle-seconds "${IDLE_SECONDS:-60}"
