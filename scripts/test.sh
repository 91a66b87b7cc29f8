#!/usr/bin/env bash
# The test suite: unit tests, then integration tests against the AWS emulator through the
# real AWS SDK. Installs the emulator (pinned moto) into ~/.cache/ottd-venv on first use.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
. scripts/web.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
ensure_ffmpeg
# The preview page's browser test (tests/preview.rs): Debian's chromium, and the players and
# playwright-core from npm (web/package-lock.json).
ensure_chromium
ensure_web
export OTTD_PYTHON="$OTTD_VENV/bin/python"

# The emulator extension checks itself with boto3 (part of moto) before the Rust tests use it,
# its live streams (ffmpeg) included.
log=$(mktemp -d)
trap 'stop_background; rm -rf "$log"' EXIT
start_emulator "$log" "$log/streams"
"$OTTD_PYTHON" tests/emulator/selfcheck.py "$EMULATOR_URL"
stop_background

# Unit and integration tests (the crate has no doc examples to run).
cargo test --lib --bins --tests -- --test-threads=2 2>&1 | tee "$log/cargo-test.out"
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log/cargo-test.out"
