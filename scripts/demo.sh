#!/usr/bin/env bash
# The demo, against the local AWS emulator (no AWS account needed), about two minutes:
#  1. validate the shipped configuration, bootstrap the IAM roles;
#  2. the daemon (`ottd run`) puts a timed event on air by itself: `tonight`, on air 45 s
#     after the start for 30 s. It deploys it, starts the channel, stops it at the end and
#     tears everything down, on time; the script follows the event's phase and shows the
#     playback links while it is on air, and fetches the HLS link: the emulator serves a real
#     live stream (ffmpeg) for each running channel, through its CloudFront domain;
#  3. the on-demand event `demo` (schedules/demo.toml) by hand: plan, deploy (its workflow
#     says autoStart, so it starts), deploy again (nothing new), links, teardown;
#     While `tonight` is on air: a 20 s ad break (SCTE-35), the channel's schedule, the slate
#     on and off, all through MediaLive's schedule; then an output error is put on EventBridge as MediaLive would: the
#     daemon reads it from its queue, restarts the pipeline 10 s later and says so;
#     Then, with the daemon still running, `/ott deploy demo`, `/ott start demo` and
#     `/ott links demo` are typed in a local stand-in of Slack (signed as Slack signs); the
#     replies are printed as Slack would show them;
#  4. `ottd cost`: what `tonight` and `demo` cost, estimated and actual;
#  5. `ottd audit`: who did what (the schedule, recovery, then you), with results and durations.
set -euo pipefail
OTTD_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$OTTD_ROOT"
. scripts/emulator.sh
. scripts/web.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ottd-target}"

ensure_emulator_venv
ensure_ffmpeg
# The preview page's players (hls.js, dash.js from npm): `links` gives the page's address.
ensure_web
echo "building ottd (the first build of the AWS SDK takes several minutes)"
cargo build --quiet --bin ottd
ottd="$CARGO_TARGET_DIR/debug/ottd"

work=$(mktemp -d)
daemon_pid=""
follow_pid=""
cleanup() {
  [ -n "$follow_pid" ] && kill "$follow_pid" 2>/dev/null || true
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  stop_background
  rm -rf "$work"
}
trap cleanup EXIT
# With live streams: each RUNNING channel's output is a real (ffmpeg) HLS/DASH stream at its
# MediaPackage endpoints and CloudFront domain, on the emulator's HTTPS stream server.
start_emulator "$work" "$work/streams"
url=$EMULATOR_URL
echo "AWS emulator on $url; its live streams on $STREAMS_URL (test CA $STREAMS_CA)"

# Dummy credentials: the emulator accepts any. The state file is the demo's own.
export AWS_ENDPOINT_URL="$url" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
export OTTD_CONFIG="$OTTD_ROOT/config/ottd.toml" OTTD_STATE="$work/ottd.db"

step() {
  echo
  echo "\$ ottd $*"
  "$ottd" "$@"
}
step validate
step bootstrap

# --- 2. the daemon ------------------------------------------------------------------------
# The shipped configuration, with the schedules in a folder of the demo's own (the shipped
# on-demand event plus `tonight`) and the HTTP listener on a free loopback port.
schedules="$work/schedules"
mkdir -p "$schedules"
cp schedules/demo.toml "$schedules/"
on_air=$(utc_in 45)
off_air=$(utc_in 75)
cat >"$schedules/tonight.toml" <<EOF
[[event]]
id = "tonight"
title = "Demo match: on air for 30 s"
start = "$on_air"
end = "$off_air"
deploy_before = "40s"
start_before = "20s"
teardown_after = "10s"
[event.mediaLive]
inputType = "URL_PULL"
channelClass = "SINGLE_PIPELINE"
encodingProfile = "HD-720p"
priUrl = "https://example.com/live/tonight/index.m3u8"
EOF
config="$work/ottd.toml"
# The daemon's port is chosen here so that links to its preview page (public_url) name it.
daemon_port=$("$OTTD_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|^workflow = .*|workflow = \"$OTTD_ROOT/config/workflow.toml\"|" \
    -e "s|^schedules = .*|schedules = \"$schedules\"|" \
    -e "s|^encoding_profiles = .*|encoding_profiles = \"$OTTD_ROOT/encoding-profiles\"|" \
    -e "s|^# listen = .*|listen = \"127.0.0.1:$daemon_port\"|" \
    -e "s|^# public_url = .*|public_url = \"http://127.0.0.1:$daemon_port\"|" \
    -e "s|^# assets = .*|assets = \"$OTTD_ROOT/web/node_modules\"|" \
    -e "s|^# connect_to = .*|connect_to = [\"*.cloudfront.net=${STREAMS_URL#https://}\", \"*.amazonaws.com=${STREAMS_URL#https://}\"]|" \
    -e "s|^# ca_bundle = .*|ca_bundle = \"$STREAMS_CA\"|" \
    config/ottd.toml >"$config"
grep -q "^schedules = \"$schedules\"" "$config" && grep -q "^listen = \"127.0.0.1:$daemon_port\"" "$config" &&
  grep -q "^public_url = " "$config" && grep -q "^assets = " "$config" && grep -q "^connect_to = " "$config" ||
  { echo "demo: could not adapt config/ottd.toml" >&2; exit 1; }
# From here on every command uses it: the stream probe ([probe] is on by default) reaches the
# emulator's CloudFront and MediaPackage names on its stream server, trusting its test CA.
export OTTD_CONFIG="$config"
# Chat: Slack's HTTP endpoints on the daemon's listener, driven by a local Slack stand-in.
# Everyone in the demo workspace is an operator (never do that in production: see README).
# The stand-in's workspace is the demo's (slack:* needs it), and its response_url receiver,
# on a free loopback port, the only place follow-ups may go.
standin_port=$("$OTTD_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s|^# mode = \"socket\" .*|mode = \"http\"\\
team_id = \"T0DEMO\"\\
response_hosts = [\"http://127.0.0.1:$standin_port\"]|" "$config" >"$config.new" && mv "$config.new" "$config"
grep -q '^mode = "http"' "$config" && grep -q '^team_id = "T0DEMO"' "$config" ||
  { echo "demo: could not set [chat.slack] mode and team_id" >&2; exit 1; }
cat >>"$config" <<EOF

[[chat.grant]]
role = "operator"
who = ["slack:*"]
EOF
slack_secret=$("$OTTD_VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')

echo
echo "== the daemon puts 'tonight' on air by itself: on air at $on_air, off air at $off_air"
step --config "$config" schedule
echo
echo "\$ ottd run    (its log, prefixed 'daemon |')"
SLACK_SIGNING_SECRET="$slack_secret" "$ottd" --config "$config" run >"$work/daemon.log" 2>&1 &
daemon_pid=$!
tail -n +1 -f --pid="$daemon_pid" "$work/daemon.log" | sed -u 's/^/  daemon | /' &
follow_pid=$!

phase_of() {
  "$ottd" --config "$config" status tonight 2>/dev/null | grep -m1 '^tonight: ' | sed 's/^tonight: //; s/ (deployment.*//'
}
# inject_alert EVENT: put a MediaLive channel alert on EventBridge for EVENT's channel, as
# MediaLive does; the rule `bootstrap` made routes it to the daemon's queue.
inject_alert() {
  local channel
  channel=$("$ottd" --config "$config" --output json status "$1" |
    "$OTTD_VENV/bin/python" -c 'import json,sys; print(next(r["id"] for r in json.load(sys.stdin)["resources"] if r["key"] == "channel"))')
  "$OTTD_VENV/bin/python" - "$url" "$channel" <<'PY'
import json, sys
import boto3
url, channel = sys.argv[1:]
arn = f"arn:aws:medialive:channel:{channel}"
events = boto3.client("events", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="demo", aws_secret_access_key="demo")
events.put_events(Entries=[{
    "Source": "aws.medialive", "DetailType": "MediaLive Channel Alert", "Resources": [arn],
    "Detail": json.dumps({"alarm_state": "SET", "alarm_id": "demo-1", "alert_type": "Failed to Write to Output",
                          "pipeline": "0", "channel_arn": arn, "message": "demo: MediaPackage refused a segment"}),
}])
print(f"  put on EventBridge for channel {channel}")
PY
}

last=""
shown_links=""
injected=""
shown_recovery=""
deadline=$((SECONDS + 180))
while :; do
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "demo: the daemon exited" >&2
    exit 1
  fi
  now_phase=$(phase_of || true)
  if [ -n "$now_phase" ] && [ "$now_phase" != "$last" ]; then
    echo ">> $(date -u +%H:%M:%S) tonight: $now_phase"
    last=$now_phase
  fi
  case "$now_phase" in
    running*)
      if [ -z "$shown_links" ]; then
        shown_links=1
        step --config "$config" links tonight
        echo "  (Preview: the daemon's page, hls.js and dash.js side by side with the probe's word; a browser"
        echo "   needs *.cloudfront.net sent to ${STREAMS_URL#https://} and the emulator's CA trusted, as tests/browser/preview.mjs does)"
        echo
        echo "== live control while on air: an ad break, the schedule, the slate on and off"
        step --config "$config" break tonight 20s
        step --config "$config" schedule-actions tonight
        step --config "$config" slate tonight on
        step --config "$config" slate tonight off
        echo
        echo "== the HLS link plays: its multivariant playlist through (the emulator's) CloudFront"
        hls_link=$("$ottd" --config "$config" --output json links tonight |
          "$OTTD_VENV/bin/python" -c 'import json,sys; print(next(p["url"] for p in json.load(sys.stdin)["playback"] if p["format"] == "HLS"))')
        "$OTTD_VENV/bin/python" scripts/stream_get.py "$STREAMS_URL" "$STREAMS_CA" "$hls_link" --wait 10 |
          sed 's/^/  /' || echo "  (the stream did not answer: see $work/streams)"
        echo
        echo "== an alert, as MediaLive would send it: 'Failed to Write to Output' on pipeline 0"
        inject_alert tonight
        injected=1
      fi
      if [ -n "$injected" ] && [ -z "$shown_recovery" ] &&
        "$ottd" --config "$config" alerts tonight --all 2>/dev/null | grep -q "recovery: restart-pipeline"; then
        shown_recovery=1
        step --config "$config" alerts tonight --all
      fi
      ;;
    torn-down*) break ;;
  esac
  if [ "$SECONDS" -gt "$deadline" ]; then
    echo "demo: 'tonight' was not torn down in time; the daemon's log is above" >&2
    exit 1
  fi
  sleep 1
done
# --- chat: /ott through Slack ------------------------------------------------------------------
echo
echo "== chat: /ott deploy, start and links for 'demo', typed in a (local stand-in of) Slack"
listen=$(sed -n 's/.*ottd daemon ready.*listen=\([0-9.:]*\).*/\1/p' "$work/daemon.log" | head -1)
"$OTTD_VENV/bin/python" scripts/slack_standin.py --ottd "http://$listen" --secret "$slack_secret" --port "$standin_port" \
  "deploy demo" "start demo" "links demo" | sed -u 's/^/  slack | /'
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""
sleep 0.2
kill "$follow_pid" 2>/dev/null || true
follow_pid=""
step --config "$config" status tonight

# --- 3. an on-demand event by hand ------------------------------------------------------------
echo
echo "== the on-demand event 'demo', by hand"
step plan demo
step deploy demo
step deploy demo          # again: nothing new
step links demo
step teardown demo
step status demo

# --- 4. what it cost ----------------------------------------------------------------------
echo
echo "== what each event cost: the estimate from its plan and profile, the actual from its runs"
step cost tonight
step cost demo

# --- 5. who did what ----------------------------------------------------------------------
echo
echo "== the audit trail: the schedule's actions and yours, with their results"
step audit
echo
echo "demo finished: the daemon put 'tonight' on air and took it down on schedule, with an ad break and the slate from the CLI and a pipeline restarted after an alert; 'demo' was deployed and started from (a stand-in of) Slack, then torn down by hand."
[ -n "$shown_recovery" ] || { echo "demo: the alert was not acted on" >&2; exit 1; }
