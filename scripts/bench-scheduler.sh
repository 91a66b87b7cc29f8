#!/usr/bin/env bash
# Scheduler benchmark (issue 8), all on loopback:
#  1. 10,000 events (5,000 one-off over a minute, 5,000 cron every 10 s) through the real
#     scheduler with the engine replaced by a recorder: fire lateness p50/p99/max, peak RSS;
#  2. the same 10,000 jobs in APScheduler 3 (Python), for comparison;
#  3. the idle daemon (`ottd run` on the shipped config): start-to-ready time and RSS.
# Each part runs about 70 s; the whole script about 3 minutes after the release build.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
ensure_emulator_venv
"$OTTD_VENV/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements-apscheduler.txt

work=$(mktemp -d)

trap 'stop_background; rm -rf "$work"' EXIT

echo "== ottd scheduler, 10,000 events, recorder instead of AWS"
cargo bench --quiet --bench scheduler | tee "$work/ottd.txt"
echo
echo "== APScheduler 3, the same 10,000 jobs"
"$OTTD_VENV/bin/python" benches/apscheduler_bench.py | tee "$work/aps.txt"
echo
p99() { sed -n 's/.*p99=\([0-9.]*\).*/\1/p' "$1" | head -1; }
awk -v a="$(p99 "$work/aps.txt")" -v o="$(p99 "$work/ottd.txt")" \
  'BEGIN { if (o > 0) printf "p99 lateness: APScheduler %.3f ms / ottd %.3f ms = %.0fx\n", a, o, a / o }'

echo
echo "== idle daemon: start-to-ready and RSS"
cargo build --quiet --release --bin ottd
port=$("$OTTD_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/state"
# The shipped config with its own state file and a free loopback port (its [daemon] table
# carries a commented `listen` line, replaced here).
sed -e "s|^state = .*|state = \"$work/state/ottd.db\"|" \
    -e "s|^schedules = .*|schedules = \"$OTTD_ROOT/schedules\"|" \
    -e "s|^encoding_profiles = .*|encoding_profiles = \"$OTTD_ROOT/encoding-profiles\"|" \
    -e "s|^workflow = .*|workflow = \"$OTTD_ROOT/config/workflow.toml\"|" \
    -e "s|^#* *listen = .*|listen = \"127.0.0.1:$port\"|" \
    config/ottd.toml >"$work/ottd.toml"
grep -q "^listen = \"127.0.0.1:$port\"" "$work/ottd.toml" || { echo "could not set daemon.listen" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:9
"$OTTD_VENV/bin/python" - "$CARGO_TARGET_DIR/release/ottd" "$work/ottd.toml" "$port" <<'PY'
import os, subprocess, sys, time, urllib.request
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))
exe, config, port = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.monotonic()
p = subprocess.Popen([exe, "--config", config, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ready = None
while time.monotonic() - t0 < 10 and p.poll() is None:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status == 200:
            ready = time.monotonic() - t0
            break
    except Exception:
        time.sleep(0.002)
time.sleep(2)
rss = hwm = None
with open(f"/proc/{p.pid}/status") as f:
    for line in f:
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
p.terminate()
p.wait(timeout=30)
print(f"idle daemon: ready in {ready * 1000:.0f} ms" if ready else "idle daemon: NOT ready within 10 s")
print(f"idle daemon: RSS {rss:.1f} MB (peak {hwm:.1f} MB)")
PY
