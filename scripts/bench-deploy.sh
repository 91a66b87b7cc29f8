#!/usr/bin/env bash
# Deploy benchmark: `ottd deploy demo` against the emulator behind a loopback proxy that adds
# DELAY_MS (default 100) to every request, as AWS latency would. Prints the deploy wall time
# and its ratio to the floor: critical path (sequential AWS requests) x DELAY_MS.
# Target: ratio <= 1.2, i.e. independent creations really run concurrently.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"
DELAY_MS=${DELAY_MS:-100}
RUNS=${RUNS:-5}

ensure_emulator_venv
cargo build --quiet --release --bin ottd
ottd="$CARGO_TARGET_DIR/release/ottd"
work=$(mktemp -d)
trap 'stop_background; rm -rf "$work"' EXIT
start_emulator "$work"
moto=$EMULATOR_URL
start_delay_proxy "$work" "$moto" "$DELAY_MS"
proxy=$PROXY_URL
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
# The shipped configuration with the stream probe off: the emulator here serves no stream
# (the deploy's autoStart would wait for one), and this bench measures the deploy.
sed -e "s|^state = .*|state = \"$work/ottd.db\"|" -e "s|^workflow = .*|workflow = \"$OTTD_ROOT/config/workflow.toml\"|" \
  -e "s|^schedules = .*|schedules = \"$OTTD_ROOT/schedules\"|" \
  -e "s|^encoding_profiles = .*|encoding_profiles = \"$OTTD_ROOT/encoding-profiles\"|" \
  -e '/^\[probe\]$/a enabled = false' config/ottd.toml >"$work/ottd.toml"
grep -q '^enabled = false$' "$work/ottd.toml" || { echo "bench-deploy: could not turn the probe off" >&2; exit 1; }
export OTTD_CONFIG="$work/ottd.toml"

path=$(OTTD_STATE="$work/plan.db" "$ottd" plan demo | sed -n 's/.*critical path: \([0-9]*\).*/\1/p')
echo "critical path: $path sequential requests x ${DELAY_MS} ms = $((path * DELAY_MS)) ms floor"
for i in $(seq 1 "$RUNS"); do
  export OTTD_STATE="$work/run$i.db"
  AWS_ENDPOINT_URL="$moto" "$ottd" bootstrap >/dev/null
  start=$(date +%s%N)
  AWS_ENDPOINT_URL="$proxy" "$ottd" deploy demo >"$work/deploy$i.out"
  end=$(date +%s%N)
  process_ms=$(( (end - start) / 1000000 ))
  # The engine's own measure of the deploy call (the process also loads config and the SDK).
  ms=$(sed -n 's/.*deploy took \([0-9.]*\)s.*/\1/p' "$work/deploy$i.out" | awk '{printf "%d", $1 * 1000}')
  AWS_ENDPOINT_URL="$moto" "$ottd" teardown demo >/dev/null
  echo "$ms" >>"$work/times"
  echo "run $i: deploy wall time ${ms} ms (whole process ${process_ms} ms)"
done
sort -n "$work/times" | awk -v floor="$((path * DELAY_MS))" '
  { t[NR] = $1 }
  END {
    med = t[int((NR + 1) / 2)]
    printf "deploy wall time: median %d ms, best %d ms, worst %d ms over %d runs\n", med, t[1], t[NR], NR
    printf "ratio deploy / (critical path x delay): median %.2f, best %.2f (target <= 1.2)\n", med / floor, t[1] / floor
  }'
