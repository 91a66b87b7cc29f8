#!/usr/bin/env bash
# Stream probe benchmark on the emulator's live streams (benches/probe_bench.py): time from the
# first segment at the origin to "on air", the probe's requests and bytes per second while an
# event is on air, and time from a frozen encoder to the `Stream Stale` alert. TRIALS (default
# 10) starts, SEGMENT (default 2) seconds per segment, WINDOW (default 60) seconds of watching.
# A debug build is enough: the figures are stream time and bytes.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
ensure_ffmpeg
cargo build --quiet --bin ottd
"$OTTD_VENV/bin/python" benches/probe_bench.py --ottd "$CARGO_TARGET_DIR/debug/ottd" \
  --python "$OTTD_VENV/bin/python" --root "$OTTD_ROOT" \
  --trials "${TRIALS:-10}" --segment "${SEGMENT:-2}" --window "${WINDOW:-60}"
