#!/usr/bin/env bash
# The scheduler crowd (benches/scheduler.rs: 10,000 events) on the daemon's real path with the
# state on DynamoDB: the table on the emulator, every request through the delay proxy (no added
# delay), which logs them. Prints the bench's figures, then DynamoDB requests per action by
# operation and how many were batches or transactions. Compare with the SQLite real path of
# scripts/bench-scheduler.sh (run 4). The emulator is one Python process: what it cannot keep up
# with shows as lateness here, not as ottd's.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
work=$(mktemp -d)
trap 'stop_background; rm -rf "$work"' EXIT
cargo bench --quiet --bench scheduler --no-run 2>/dev/null
start_emulator "$work"
"$OTTD_VENV/bin/python" "$OTTD_ROOT/tests/emulator/delay_proxy.py" --upstream "$EMULATOR_URL" \
  --listen-port 0 --delay-ms 0 --log-requests "$work/requests.jsonl" >"$work/proxy.out" 2>"$work/proxy.log" &
OTTD_PIDS+=($!)
PROXY_URL=$(wait_ready "$work/proxy.out" OTTD_PROXY_READY)
echo "== ottd scheduler: 10,000 events, real path, state on DynamoDB (the emulator)"
AWS_ENDPOINT_URL="$PROXY_URL" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
  BENCH_STORE=dynamodb cargo bench --quiet --bench scheduler | tee "$work/bench.out"
fires=$(sed -n 's/^fires=\([0-9]*\).*/\1/p' "$work/bench.out")
"$OTTD_VENV/bin/python" - "$work/requests.jsonl" "${fires:-0}" <<'PY'
import json, sys
ops, batched, seconds = {}, 0, 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    op = e["key"].rsplit(".", 1)[-1]
    ops[op] = ops.get(op, 0) + 1
fires = int(sys.argv[2]) or 1
total = sum(ops.values())
print(f"DynamoDB requests: {total} for {fires} actions = {total / fires:.1f} per action")
print("  by operation (per action): " + ", ".join(f"{k} {v} ({v / fires:.2f})" for k, v in sorted(ops.items())))
PY
