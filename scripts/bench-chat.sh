#!/usr/bin/env bash
# ChatOps benchmark (issue 14), loopback only: signed Slack slash commands (`/ott status EVENT`,
# signed as Slack signs them, afresh for every request) from benches/chat-load, a Rust load
# generator keeping CHAT_CONNECTIONS keep-alive connections each in a closed loop, against
# three servers, one after the other, each alone on the machine:
#  1. ottd's own `POST /slack/commands` (`ottd run`, release build, Slack over HTTP, a copy
#     of the shipped configuration with its state file in a temp dir, AWS pointed at a
#     loopback port nobody listens on: a never-deployed event's status reads only the state
#     file);
#  2. a bare axum handler answering a constant (benches/chat-load's bare-axum): the ceiling;
#  3. Slack Bolt for Python (benches/bolt_app.py) in its fastest setup: AsyncApp, signature
#     verification on, behind uvicorn with 2 workers (uvloop, httptools, no access log).
# Prints throughput and p50/p99 of the time to the HTTP 200 for each, beside the targets:
# ottd >= 10x Bolt's throughput, >= 0.8x bare axum's, p99 <= 4 ms.
#
# Settings (environment):
#   CHAT_CONNECTIONS (32), CHAT_DURATION (10s), CHAT_WARMUP (2s): the load, the same for all;
#   CHAT_EVENT: the event of `/ott status EVENT` (the first event id of schedules/);
#   BOLT_ADAPTER: asgi (Bolt's own ASGI adapter, the faster) or starlette (Bolt's Starlette
#     adapter on a Starlette app); BOLT_WORKERS (2);
#   CHAT_READY_TIMEOUT (60): seconds ottd has to answer 200 on /readyz;
#   SKIP_OTTD=1: bare axum and Bolt only, no ottd build;
#   OTTD_BIN: an ottd binary to use instead of building the release one (a debug build, to
#     check the script: its figures say nothing about the release's);
#   BOLT_DEFAULT_TOO=1: one more run, Bolt with its default process_before_response=False,
#     for reference (the targets compare with the fastest setup).
# Every run reports the CPU time other processes took meanwhile and warns above 5%: on a
# 2-core machine a build running beside the bench halves its figures.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"

connections=${CHAT_CONNECTIONS:-32}
duration=${CHAT_DURATION:-10s}
warmup=${CHAT_WARMUP:-2s}
adapter=${BOLT_ADAPTER:-asgi}
workers=${BOLT_WORKERS:-2}
ready_timeout=${CHAT_READY_TIMEOUT:-60}
case "$adapter" in
  asgi) bolt_target=bolt_app:asgi_app; bolt_label="Bolt AsyncApp, ASGI adapter" ;;
  starlette) bolt_target=bolt_app:starlette_app; bolt_label="Bolt AsyncApp, Starlette adapter" ;;
  *) echo "bench-chat: BOLT_ADAPTER is asgi or starlette, not '$adapter'" >&2; exit 2 ;;
esac
command -v curl >/dev/null || { echo "bench-chat: curl is needed (readiness checks)" >&2; exit 2; }

# Bolt's own virtualenv, made as the emulator's is (scripts/emulator.sh).
. scripts/emulator.sh
BOLT_VENV="${BOLT_VENV:-$HOME/.cache/ottd-bolt-venv}"
ensure_venv "$BOLT_VENV" "$OTTD_ROOT/benches/requirements-bolt.txt" "Slack Bolt"
py="$BOLT_VENV/bin/python"
pids=()  # background servers, stopped on exit

# alive PID: running (not gone, not a zombie waiting for `wait`).
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ "${st:0:1}" != Z ]
}
# stop_pid PID: SIGTERM to PID and its children (uvicorn's workers), SIGKILL to what is left
# after 5 s.
stop_pid() {
  local pid=$1 kids
  kids=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr '\n' ' ' || true)
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive "$pid" || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -9 "$pid" $kids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# stop_last: stop the most recently started background process (each server runs alone).
stop_last() {
  local last=$((${#pids[@]} - 1))
  stop_pid "${pids[$last]}"
  unset "pids[$last]"
  pids=("${pids[@]}")
}
cleanup() {
  local p
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && stop_pid "$p"
  done
  pids=()
  rm -rf "$work"
}
work=$(mktemp -d)
trap cleanup EXIT

echo "building (release)..." >&2
cargo build --quiet --release --locked --manifest-path benches/chat-load/Cargo.toml
bin="$CARGO_TARGET_DIR/release"
ottd="$bin/ottd"
if [ -n "${OTTD_BIN:-}" ]; then
  ottd=$OTTD_BIN
  echo "using $ottd, not a release build of this tree: its figures say nothing about the release's" >&2
elif [ -z "${SKIP_OTTD:-}" ]; then
  cargo build --quiet --release --bin ottd
fi

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# The copied configuration: config/, schedules/ and encoding-profiles/ side by side as in the
# repository, so ottd.toml's relative paths resolve inside the temp dir (the state file too).
cp -r config schedules encoding-profiles "$work/"
mkdir -p "$work/state"
event=${CHAT_EVENT:-$(sed -n 's/^id = "\([^"]*\)".*/\1/p' "$work"/schedules/*.toml | head -1)}
[ -n "$event" ] || { echo "bench-chat: no event id in schedules/*.toml; set CHAT_EVENT" >&2; exit 1; }
text="status $event"

# val NAME KEY: a figure of a run (chat-load's line, then the server's CPU time).
val() { cat "$work/$1.out" "$work/$1.cpu" 2>/dev/null | sed -n "s/\(^\|.* \)$2=\([0-9.]*\).*/\2/p" | head -1 || true; }

# CPU accounting, so a run shared with something else (a build...) says so: the time the
# machine's CPUs spent in processes over the run (/proc/stat: user, nice, system), less the
# server's (its process and children) and the generator's own. Interrupt time (loopback TCP
# is mostly softirq) and steal are shown apart. Clock ticks (USER_HZ).
machine_ticks() { head -1 /proc/stat | awk '{ t = 0; for (i = 2; i <= NF; i++) t += $i; print $2 + $3 + $4, t, $7 + $8, $9 }'; }
tree_ticks() {
  local pid=$1 p t=0 f
  for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    # shellcheck disable=SC2086
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}

# load NAME URL SERVER_PID SERVER_LOG: one chat-load run; its figures in $work/NAME.out.
load() {
  local name=$1 url=$2 server=$3 log=$4 m0 s0 m1 s1
  m0=$(machine_ticks)
  s0=$(tree_ticks "$server")
  if ! "$bin/chat-load" --url "$url" --secret "$secret" --text "$text" --connections "$connections" \
    --duration "$duration" --warmup "$warmup" --show-reply >"$work/$name.out" 2>"$work/$name.err"; then
    echo "bench-chat: the load run against $name failed:" >&2
    cat "$work/$name.out" "$work/$name.err" >&2
    echo "-- the last lines of its log ($log):" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  m1=$(machine_ticks)
  s1=$(tree_ticks "$server")
  cat "$work/$name.out"
  sed 's/^chat-load: /  /' "$work/$name.err"
  awk -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" -v gen="$(val "$name" cpu_s)" -v hz="$(getconf CLK_TCK)" \
    -v out="$work/$name.cpu" '
    BEGIN {
      split(m0, a, " "); split(m1, b, " ")
      busy = (b[1] - a[1]) / hz; wall = (b[2] - a[2]) / hz; srv = (s1 - s0) / hz
      irq = (b[3] - a[3]) / hz; steal = (b[4] - a[4]) / hz
      other = busy - srv - gen; if (other < 0) other = 0
      share = (wall > 0) ? 100 * other / wall : 0
      printf "server_cpu_s=%.2f other_pct=%.0f\n", srv, share > out
      printf "  CPU over the run: server %.1f s, chat-load %.1f s, interrupts %.1f s, steal %.1f s, other processes %.1f s (%.0f%%)\n", srv, gen, irq, steal, other, share
      if (share > 5) printf "  WARNING: other processes took %.0f%% of the CPUs during this run (a build?): its figures are low\n", share
    }'
}

# --- 1. ottd ----------------------------------------------------------------------------------
if [ -z "${SKIP_OTTD:-}" ]; then
  echo
  echo "== ottd run: POST /slack/commands, '/ott $text', $connections connections, $duration after $warmup warmup"
  port=$(free_port)
  config="$work/config/ottd.toml"
  # [daemon] listen on a free loopback port; [chat] replaced by Slack over HTTP, every Slack
  # user a viewer (enough for status).
  "$py" - "$config" "$port" <<'EOF'
import re, sys, tomllib
path, port = sys.argv[1:]
listen = f'listen = "127.0.0.1:{port}"'
header = re.compile(r'^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$')
out, table, listen_done, dropped = [], None, False, []
for line in open(path).read().splitlines(keepends=True):
    h = header.match(line)
    if h:
        if table == "daemon" and not listen_done:
            out.append(listen + "\n")  # [daemon] had no listen line, not even commented
            listen_done = True
        table = h.group(1)
    # Any [chat...] tables the shipped file has are dropped: the bench's own follow.
    if table is not None and (table == "chat" or table.startswith("chat.")):
        dropped.append(line)
        continue
    if table == "daemon" and not listen_done and re.match(r'^#? ?listen\s*=', line):
        line, listen_done = listen + "\n", True
    out.append(line)
if table == "daemon" and not listen_done:
    out.append(listen + "\n")
    listen_done = True
if not listen_done:
    sys.exit(f"{path}: no [daemon] table")
if any(l.strip() and not l.lstrip().startswith("#") for l in dropped):
    print("bench-chat: the shipped [chat] tables replaced by the bench's", file=sys.stderr)
text = "".join(out).rstrip("\n") + '''

# scripts/bench-chat.sh
[chat.slack]
mode = "http"
team_id = "T0BENCH01"
[[chat.grant]]
role = "viewer"
who = ["slack:*"]
'''
conf = tomllib.loads(text)
assert conf["daemon"]["listen"] == f"127.0.0.1:{port}", conf["daemon"]
assert conf["chat"]["slack"]["mode"] == "http", conf["chat"]
open(path, "w").write(text)
EOF
  # Dummy credentials, empty profile files, no instance metadata, and an endpoint nobody
  # listens on: nothing can leave loopback even if the daemon tried to call AWS. No Slack
  # tokens (Socket Mode stays off), no Discord ones (the gateway stays off).
  : >"$work/aws-empty"
  daemon_env=(env -u OTTD_STATE -u OTTD_CONFIG -u AWS_PROFILE -u SLACK_BOT_TOKEN -u SLACK_APP_TOKEN
    -u DISCORD_TOKEN -u DISCORD_PUBLIC_KEY
    SLACK_SIGNING_SECRET="$secret"
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
    AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_EC2_METADATA_DISABLED=true
    AWS_CONFIG_FILE="$work/aws-empty" AWS_SHARED_CREDENTIALS_FILE="$work/aws-empty")
  "${daemon_env[@]}" "$ottd" --config "$config" validate >"$work/validate.log" 2>&1 ||
    { echo "bench-chat: ottd validate refused the bench's configuration:" >&2; cat "$work/validate.log" >&2; exit 1; }
  "${daemon_env[@]}" "$ottd" --config "$config" run >"$work/ottd.log" 2>&1 &
  ottd_pid=$!
  pids+=("$ottd_pid")
  deadline=$((SECONDS + ready_timeout))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/readyz" || true)" = 200 ]; do
    if ! alive "$ottd_pid"; then
      rc=0
      wait "$ottd_pid" || rc=$?
      echo "bench-chat: ottd run exited (status $rc) before /readyz answered 200; the last lines of its log:" >&2
      tail -n 40 "$work/ottd.log" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench-chat: ottd's /readyz on 127.0.0.1:$port not 200 after ${ready_timeout} s; the last lines of its log:" >&2
      tail -n 40 "$work/ottd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  load ottd "http://127.0.0.1:$port/slack/commands" "$ottd_pid" "$work/ottd.log"
  if ! alive "$ottd_pid"; then
    echo "bench-chat: ottd run died during the load; the last lines of its log:" >&2
    tail -n 40 "$work/ottd.log" >&2
    exit 1
  fi
  complaints=$(grep -ciE '\b(warn|warning|error)\b' "$work/ottd.log" || true)
  if [ "$complaints" -gt 0 ]; then
    echo "  ottd's log has $complaints warning/error lines; the first ones:"
    grep -iE '\b(warn|warning|error)\b' "$work/ottd.log" | head -n 5 | cut -c1-200 | sed 's/^/    /'
  fi
  ottd_rss=$(sed -n 's/^VmHWM: *\([0-9]*\) kB/\1/p' "/proc/$ottd_pid/status" 2>/dev/null || true)
  [ -n "$ottd_rss" ] && awk -v kb="$ottd_rss" 'BEGIN { printf "  ottd peak RSS: %.1f MB\n", kb / 1024 }'
  stop_last
fi

# --- 2. bare axum -----------------------------------------------------------------------------
echo
echo "== bare axum (the ceiling): a constant reply, $connections connections, $duration after $warmup warmup"
"$bin/bare-axum" --listen 127.0.0.1:0 >"$work/axum.ready" 2>"$work/axum.log" &
axum_pid=$!
pids+=("$axum_pid")
axum_url=""
for _ in $(seq 1 100); do
  axum_url=$(sed -n 's/^BARE_AXUM_READY //p' "$work/axum.ready")
  [ -n "$axum_url" ] && break
  sleep 0.05
done
[ -n "$axum_url" ] || { echo "bench-chat: bare-axum did not start:" >&2; cat "$work/axum.log" >&2; exit 1; }
load axum "$axum_url" "$axum_pid" "$work/axum.log"
stop_last

# --- 3. Slack Bolt for Python -----------------------------------------------------------------
bolt_version=$("$py" -c 'import slack_bolt.version as v; print(v.__version__)')
uvicorn_version=$("$py" -c 'import uvicorn; print(uvicorn.__version__)')
# start_bolt NAME [ENV=VALUE...]: uvicorn with the app, returning once every worker has
# started (uvicorn's "Application startup complete", once per worker) and it answers (an
# unsigned request: 401).
start_bolt() {
  local name=$1
  shift
  bolt_port=$(free_port)
  env "$@" PYTHONDONTWRITEBYTECODE=1 SLACK_SIGNING_SECRET="$secret" "$BOLT_VENV/bin/uvicorn" --app-dir "$OTTD_ROOT/benches" \
    --host 127.0.0.1 --port "$bolt_port" --workers "$workers" --loop uvloop --http httptools \
    --no-access-log --log-level info \
    "$bolt_target" >"$work/$name.log" 2>&1 &
  bolt_pid=$!
  pids+=("$bolt_pid")
  local code="" started
  for _ in $(seq 1 300); do
    started=$(grep -c "Application startup complete" "$work/$name.log" || true)
    if [ "$started" -ge "$workers" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST "http://127.0.0.1:$bolt_port/slack/commands" || true)
      [ "$code" = 401 ] && return 0
    fi
    sleep 0.1
  done
  echo "bench-chat: Bolt did not start on 127.0.0.1:$bolt_port ($started of $workers workers, last status '$code'); its log:" >&2
  tail -n 40 "$work/$name.log" >&2
  exit 1
}
echo
echo "== Slack Bolt $bolt_version ($bolt_label, uvicorn $uvicorn_version, $workers workers), signatures verified,"
echo "   $connections connections, $duration after $warmup warmup"
start_bolt bolt
load bolt "http://127.0.0.1:$bolt_port/slack/commands" "$bolt_pid" "$work/bolt.log"
stop_last
if [ -n "${BOLT_DEFAULT_TOO:-}" ]; then
  echo
  echo "== for reference: the same Bolt app with Bolt's default process_before_response=False"
  start_bolt bolt-default BOLT_PROCESS_BEFORE_RESPONSE=0
  load bolt-default "http://127.0.0.1:$bolt_port/slack/commands" "$bolt_pid" "$work/bolt-default.log"
  stop_last
fi

# --- summary ----------------------------------------------------------------------------------
echo
echo "== summary (targets from issue 14): '/ott $text', $connections connections, $duration measured after $warmup warmup"
# Requests per CPU-second of the server (the whole run, warmup included): how much work each
# answer costs, whatever share of the 2 cores the generator took.
eff() { awk -v n="$(val "$1" ok_total)" -v c="$(val "$1" server_cpu_s)" 'BEGIN { if (c > 0) printf "%.0f", n / c }'; }
row() {
  [ -f "$work/$2.out" ] || return 0
  printf '%-50s %9s %8s %8s %7s %12s\n' "$1" "$(val "$2" rps)" "$(val "$2" p50_ms)" "$(val "$2" p99_ms)" \
    "$(val "$2" errors)" "$(eff "$2")"
}
printf '%-50s %9s %8s %8s %7s %12s\n' "server" "req/s" "p50 ms" "p99 ms" "errors" "req/CPU-s"
row "ottd POST /slack/commands" ottd
row "bare axum, constant reply (ceiling)" axum
row "$bolt_label, uvicorn x$workers" bolt
row "  (Bolt's default process_before_response=False)" bolt-default
awk -v skip="${SKIP_OTTD:-}" -v o="$(val ottd rps)" -v o99="$(val ottd p99_ms)" -v oerr="$(val ottd errors)" \
  -v a="$(val axum rps)" -v aerr="$(val axum errors)" -v b="$(val bolt rps)" -v berr="$(val bolt errors)" \
  -v oe="$(eff ottd)" -v ae="$(eff axum)" -v be="$(eff bolt)" '
  function check(ok) { return ok ? "ok" : "MISSED" }
  BEGIN {
    printf "bare axum / Bolt throughput: %.1fx (the ceiling of ottd / Bolt on this machine)\n", (b > 0) ? a / b : 0
    if (be > 0) printf "bare axum / Bolt requests per server CPU-second: %.1fx\n", ae / be
    printf "every request answered 2xx: bare axum %d errors, Bolt %d errors: %s\n", aerr, berr, check(aerr == 0 && berr == 0)
    if (skip != "") {
      print "ottd: skipped (SKIP_OTTD=1); targets: ottd >= 10x Bolt throughput, >= 0.8x bare axum, p99 <= 4 ms"
      exit
    }
    printf "ottd throughput / Bolt: %.1fx (target >= 10x): %s\n", (b > 0) ? o / b : 0, check(b > 0 && o >= 10 * b)
    printf "ottd throughput / bare axum: %.2fx (target >= 0.8x): %s\n", (a > 0) ? o / a : 0, check(a > 0 && o >= 0.8 * a)
    printf "ottd p99: %.2f ms (target <= 4 ms): %s\n", o99, check(o99 <= 4)
    if (be > 0) printf "ottd / Bolt requests per server CPU-second: %.1fx (for information)\n", oe / be
    printf "ottd every request answered 2xx: %d errors (target 0): %s\n", oerr, check(oerr == 0)
  }'
noisy=""
for name in ottd axum bolt bolt-default; do
  share=$(val "$name" other_pct)
  [ -n "$share" ] && [ "$share" -gt 5 ] && noisy="$noisy $name ($share%)"
done
if [ -n "$noisy" ]; then
  echo "WARNING: other processes took CPU during the runs of:$noisy; run again on a quiet machine"
fi
