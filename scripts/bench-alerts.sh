#!/usr/bin/env bash
# Alert burst benchmark (issue 13), loopback only: `ottd run` (release build) on the AWS
# emulator with 50 events on air; 1,000 MediaLive alert events put on EventBridge as
# MediaLive would, through the rule and queue `ottd bootstrap` made. Prints the time until all
# are recorded exactly once, visible-in-queue to recovery-action latency p50/p99, and the
# daemon's peak RSS, beside the targets (every alert once; p99 <= 200 ms).
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
work=$(mktemp -d)
trap 'stop_background; rm -rf "$work"' EXIT
echo "building (release)..." >&2
cargo build --quiet --release --bin ottd
start_emulator "$work"
port=$("$OTTD_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$OTTD_VENV/bin/python" benches/alerts_bench.py --ottd "$CARGO_TARGET_DIR/release/ottd" --emulator "$EMULATOR_URL" \
  --work "$work" --port "$port" | tee "$work/alerts.out"
echo
echo "== summary (targets from issue 13)"
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$work/alerts.out" | head -1; }
awk -v rec="$(val alerts_recorded)" -v want="$(val expected)" -v dup="$(val duplicates)" -v q="$(val quarantined)" \
  -v p50="$(val p50)" -v p99="$(val p99)" -v all="$(val all_recorded_s)" -v rss="$(val daemon_peak_rss_mb)" '
  function check(ok) { return ok ? "ok" : "MISSED" }
  BEGIN {
    printf "every alert recorded exactly once: %d of %d, %d duplicated, %d quarantined: %s\n", rec, want, dup, q, check(rec == want && dup == 0 && q == 0)
    printf "all recorded after %.2f s\n", all
    printf "visible in the queue to recovery action: p50 %.1f ms, p99 %.1f ms (target <= 200 ms): %s\n", p50, p99, check(p99 <= 200)
    printf "daemon peak RSS: %.1f MB\n", rss
  }'
