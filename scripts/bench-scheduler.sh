#!/usr/bin/env bash
# Scheduler benchmark (issue 8), all on this machine, loopback only:
#  1. benches/scheduler.rs: 10,000 events (5,000 one-off spread over a minute, 5,000 cron
#     every 10 s) driven by the real scheduler with a recorder for the engine, ~72 s: fire
#     lateness p50/p99/max and peak RSS.
#  2. benches/apscheduler_bench.py: the same 10,000 jobs in APScheduler 3, ~71 s.
#  3. benches/daemon_idle.py: `ottd run` on the shipped configuration (its only event is
#     on-demand, so no AWS call), state in a temp dir: start-to-ready time and idle RSS.
#  4. benches/scheduler.rs with BENCH_STORE=1: the daemon's real path, ~72 s: every action
#     through the operations layer (override check, per-event worker, audit rows) to an
#     engine stand-in writing phases to a SQLite state file, phases and overrides read from it.
# Then the comparison with the targets: recorder p99 <= 10 ms and >= 10x better than
# APScheduler, peak RSS <= 25 MB, idle RSS <= 15 MB, ready in <= 0.3 s (issue 8); real-store
# p99 <= 50 ms at 10,000 events (issue 12). NO_STORE=1 skips run 4.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"

ensure_emulator_venv
py="$OTTD_VENV/bin/python"
aps_req="$OTTD_ROOT/benches/requirements-apscheduler.txt"
aps_stamp="$OTTD_VENV/.ottd-apscheduler"
if ! cmp -s "$aps_req" "$aps_stamp"; then
  echo "installing APScheduler into $OTTD_VENV ($(grep -v '^#' "$aps_req"))" >&2
  "$OTTD_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$aps_req"
  cp "$aps_req" "$aps_stamp"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building (release)..." >&2
cargo build --quiet --release --bin ottd
cargo bench --quiet --bench scheduler --no-run 2>/dev/null

echo
echo "== ottd scheduler: 10,000 events, recorder engine (~72 s)"
cargo bench --quiet --bench scheduler | tee "$work/ottd.out"

if [ -z "${NO_STORE:-}" ]; then
  echo
  echo "== ottd scheduler, real path: operations layer, audit rows, SQLite state file (~72 s)"
  BENCH_STORE=1 cargo bench --quiet --bench scheduler | tee "$work/ottd-store.out"
fi

echo
echo "== APScheduler $("$py" -c 'import apscheduler; print(apscheduler.__version__)'): the same 10,000 jobs (~71 s)"
"$py" benches/apscheduler_bench.py | tee "$work/aps.out"

echo
echo "== ottd run, idle (shipped configuration, state in a temp dir)"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$py" - "$OTTD_ROOT/config/ottd.toml" "$work/ottd.toml" "$OTTD_ROOT" "$work" "$port" <<'EOF'
import re, sys, tomllib
src, dst, root, work, port = sys.argv[1:]
text = open(src).read()
subs = {
    r'^state = .*$': f'state = "{work}/ottd.db"',
    r'^workflow = .*$': f'workflow = "{root}/config/workflow.toml"',
    r'^schedules = .*$': f'schedules = "{root}/schedules"',
    r'^encoding_profiles = .*$': f'encoding_profiles = "{root}/encoding-profiles"',
    r'^#? ?listen = .*$': f'listen = "127.0.0.1:{port}"',
}
for pattern, line in subs.items():
    text, n = re.subn(pattern, line, text, count=1, flags=re.M)
    if n != 1:
        sys.exit(f"config/ottd.toml: no line matches {pattern}")
conf = tomllib.loads(text)
assert conf["daemon"]["listen"] == f"127.0.0.1:{port}", conf.get("daemon")
assert conf["paths"]["state"] == f"{work}/ottd.db", conf.get("paths")
open(dst, "w").write(text)
EOF
ottd="$CARGO_TARGET_DIR/release/ottd"
# Dummy credentials, empty profile files, no instance metadata, and an endpoint nobody
# listens on: nothing can leave loopback even if the daemon tried to call AWS.
: >"$work/aws-empty"
daemon_env=(env -u OTTD_STATE -u OTTD_CONFIG -u AWS_PROFILE
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_EC2_METADATA_DISABLED=true
  AWS_CONFIG_FILE="$work/aws-empty" AWS_SHARED_CREDENTIALS_FILE="$work/aws-empty")
"${daemon_env[@]}" "$ottd" --config "$work/ottd.toml" validate >/dev/null
"${daemon_env[@]}" "$py" benches/daemon_idle.py --ottd "$ottd" --config "$work/ottd.toml" \
  --port "$port" --log "$work/daemon.log" --runs "${IDLE_RUNS:-3}" | tee "$work/idle.out"

echo
echo "== summary (targets from issues 8 and 12)"
val() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$1" | head -1; }
ottd_p99=$(grep '^lateness_ms' "$work/ottd.out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p')
aps_p99=$(grep '^lateness_ms' "$work/aps.out" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p')
ottd_peak=$(grep '^rss_mb' "$work/ottd.out" | sed -n 's/.*peak=\([0-9.]*\).*/\1/p')
aps_peak=$(grep '^rss_mb' "$work/aps.out" | sed -n 's/.*peak=\([0-9.]*\).*/\1/p')
ready=$(grep '^ready_ms' "$work/idle.out" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
idle=$(grep '^idle_rss_mb' "$work/idle.out" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
store_line=$(grep '^lateness_ms' "$work/ottd-store.out" 2>/dev/null || true)
store_p99=$(echo "$store_line" | sed -n 's/.*p99=\([0-9.]*\).*/\1/p')
store_p50=$(echo "$store_line" | sed -n 's/.*p50=\([0-9.]*\).*/\1/p')
store_peak=$(grep '^rss_mb' "$work/ottd-store.out" 2>/dev/null | sed -n 's/.*peak=\([0-9.]*\).*/\1/p')
ottd_p50=$(grep '^lateness_ms' "$work/ottd.out" | sed -n 's/.*p50=\([0-9.]*\).*/\1/p')
printf '%-34s %10s %10s %10s\n' "10,000 events" "p50 ms" "p99 ms" "peak MB"
printf '%-34s %10s %10s %10s\n' "recorder (scheduler alone)" "$ottd_p50" "$ottd_p99" "$ottd_peak"
[ -n "$store_p99" ] && printf '%-34s %10s %10s %10s\n' "real path (ops, audit, SQLite)" "$store_p50" "$store_p99" "$store_peak"
awk -v op="$ottd_p99" -v ap="$aps_p99" -v opk="$ottd_peak" -v apk="$aps_peak" \
  -v ready="$ready" -v idle="$idle" -v sp="${store_p99:-}" '
  function check(ok) { return ok ? "ok" : "MISSED" }
  BEGIN {
    ratio = (op > 0) ? ap / op : 0
    printf "fire lateness p99: ottd %.3f ms, APScheduler %.3f ms (target <= 10 ms): %s\n", op, ap, check(op <= 10)
    printf "ratio APScheduler p99 / ottd p99: %.1fx (target >= 10x): %s\n", ratio, check(ratio >= 10)
    printf "peak RSS: ottd %.1f MB, APScheduler %.1f MB (target <= 25 MB): %s\n", opk, apk, check(opk <= 25)
    printf "idle RSS: %.1f MB (target <= 15 MB): %s\n", idle, check(idle <= 15)
    printf "start to ready: %.1f ms (target <= 300 ms): %s\n", ready, check(ready <= 300)
    if (sp != "") printf "real path p99: %.3f ms (target <= 50 ms): %s\n", sp, check(sp <= 50)
  }'
