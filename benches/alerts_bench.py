"""Alert burst benchmark (issue 13), loopback only.

A running `ottd run` with EVENTS events on air, on the AWS emulator, with the alert plumbing
`ottd bootstrap` made (EventBridge rule -> SQS queue). A burst of BURST MediaLive alert events
is put on EventBridge as MediaLive would (batches of 10, the API's limit): one output error per
event that recovery acts on at once (a pipeline restart), SET/CLEARED pairs of notify-only
alerts, repeats of open alerts, and events older than what is recorded (stale). Measured:

- the time from the first put until every alert is recorded exactly once (the queue drained,
  every key in the state file once, nothing quarantined);
- per actionable alert, the time from its message being visible in the queue (the emulator
  delivers to SQS inside PutEvents, so: when its put returned) to the recovery action issued
  (the audit row of the `recovery` actor's restart-pipeline), p50/p99;
- the daemon's peak RSS (VmHWM).

Prints key=value lines; the targets are printed beside the figures by scripts/bench-alerts.sh.
"""

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

EVENTS = 50
BURST = 1000
ACTIONABLE = "Failed to Write to Output"


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_config(work, root, port):
    schedules = os.path.join(work, "schedules")
    os.makedirs(schedules, exist_ok=True)
    start = datetime.now(timezone.utc) + timedelta(seconds=4)
    end = start + timedelta(minutes=30)
    events = []
    for i in range(EVENTS):
        events.append(
            f'[[event]]\nid = "ev{i:03}"\nstart = "{rfc3339(start)}"\nend = "{rfc3339(end)}"\n'
            'deploy_before = "3s"\nstart_before = "2s"\n[event.mediaLive]\nchannelClass = "SINGLE_PIPELINE"\n'
            f'inputType = "URL_PULL"\npriUrl = "https://example.com/ev{i}/index.m3u8"\n'
            "[event.cloudFront]\naccess_logs = false\n"
        )
    with open(os.path.join(schedules, "events.toml"), "w") as f:
        f.write("\n".join(events))
    config = os.path.join(work, "ottd.toml")
    with open(config, "w") as f:
        f.write(
            f'[aws]\nregion = "us-east-1"\n[paths]\nstate = "{work}/ottd.db"\nworkflow = "{root}/config/workflow.toml"\n'
            f'schedules = "{schedules}"\nencoding_profiles = "{root}/encoding-profiles"\n[naming]\nprefix = "ottd"\n'
            '[probe]\nenabled = false\n'
            '[engine]\npoll_interval = "100ms"\nstart_timeout = "60s"\nstop_timeout = "60s"\ndistribution_wait = "10s"\n'
            f'[daemon]\nlisten = "127.0.0.1:{port}"\n'
            '[alerts]\nbreaker = 100\nsns_target = false\n'
            f'[alerts.policy."{ACTIONABLE}"]\nremedy = "restart-pipeline"\nwait = "0s"\n'
        )
    return config


def vmhwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ottd", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = write_config(args.work, root, args.port)
    env = dict(os.environ, AWS_ENDPOINT_URL=args.emulator, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", OTTD_CONFIG=config)
    env.pop("OTTD_STATE", None)
    subprocess.run([args.ottd, "bootstrap"], env=env, check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(args.work, "daemon.log"), "w")
    daemon = subprocess.Popen([args.ottd, "run"], env=env, stdout=log, stderr=log)
    db = sqlite3.connect(os.path.join(args.work, "ottd.db"), timeout=10)
    try:
        deadline = time.time() + 120
        while True:
            n = db.execute("SELECT COUNT(*) FROM deployments WHERE phase = 'running'").fetchone()[0]
            if n == EVENTS:
                break
            if time.time() > deadline or daemon.poll() is not None:
                sys.exit(f"only {n} of {EVENTS} events on air; see {args.work}/daemon.log")
            time.sleep(0.2)
        channels = dict(db.execute("SELECT event, aws_id FROM resources WHERE key = 'channel'").fetchall())
        kw = dict(endpoint_url=args.emulator, region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench")
        events = boto3.client("events", **kw)
        sqs = boto3.client("sqs", **kw)
        queue = db.execute("SELECT value FROM meta WHERE key = 'alerts.queue_url'").fetchone()[0]

        rng = random.Random(42)
        names = sorted(channels)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        entries = []  # (entry, actionable event or None)
        keys = set()
        for i, ev in enumerate(names):
            entries.append((("SET", f"act{i}", ACTIONABLE, ev, now), ev))
            keys.add((channels[ev], f"act{i}"))
        pairs = (BURST - len(entries)) * 2 // 5
        for p in range(pairs // 2):
            ev = rng.choice(names)
            kind = rng.choice(["Input Failed Over", "Something Only Notified"])
            entries.append((("SET", f"n{p}", kind, ev, now), None))
            entries.append((("CLEARED", f"n{p}", kind, ev, now + timedelta(seconds=1)), None))
            keys.add((channels[ev], f"n{p}"))
        while len(entries) < BURST:
            # EventBridge delivering again (the same state and time), and stale SETs (older than
            # what the key already has): none may add an alert or act twice.
            (state, alarm, kind, ev, t), act = rng.choice(entries)
            if rng.random() < 0.5:
                entries.append(((state, alarm, kind, ev, t), act))
            else:
                entries.append((("SET", alarm, kind, ev, t - timedelta(seconds=30)), act))
        # The actionable ones spread through the burst.
        head, rest = entries[: len(names)], entries[len(names):]
        rng.shuffle(rest)
        step = max(1, len(rest) // len(head))
        ordered = []
        for i, e in enumerate(head):
            ordered.extend(rest[i * step:(i + 1) * step])
            ordered.append(e)
        ordered.extend(rest[len(head) * step:])

        visible = {}
        t0 = time.time()
        for b in range(0, len(ordered), 10):
            batch = ordered[b:b + 10]
            out = events.put_events(Entries=[
                {
                    "Source": "aws.medialive",
                    "DetailType": "MediaLive Channel Alert",
                    "Resources": [f"arn:aws:medialive:channel:{channels[ev]}"],
                    "Time": t,
                    "Detail": json.dumps({
                        "alarm_state": state, "alarm_id": alarm, "alert_type": kind, "pipeline": "0",
                        "channel_arn": f"arn:aws:medialive:channel:{channels[ev]}", "message": "bench",
                    }),
                }
                for (state, alarm, kind, ev, t), _ in batch
            ])
            assert out["FailedEntryCount"] == 0, out
            at = time.time()
            for _, act in batch:
                # The first of an actionable alert's copies to be visible starts its clock.
                if act is not None and act not in visible:
                    visible[act] = at
        put_s = time.time() - t0

        deadline = time.time() + 120
        while True:
            attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            left = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
            rows = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
            acted = db.execute(
                "SELECT COUNT(*) FROM audit WHERE actor = 'recovery' AND operation = 'restart-pipeline' AND result IS NOT NULL"
            ).fetchone()[0]
            if left == 0 and rows >= len(keys) and acted >= len(names):
                break
            if time.time() > deadline:
                sys.exit(f"not done: {left} messages left, {rows}/{len(keys)} alerts, {acted}/{len(names)} actions")
            time.sleep(0.01)
        all_recorded_s = time.time() - t0
        dup = db.execute(
            "SELECT COUNT(*) FROM (SELECT channel_id, pipeline, alarm_id, COUNT(*) n FROM alerts GROUP BY 1, 2, 3 HAVING n > 1)"
        ).fetchone()[0]
        quarantined = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        latencies = []
        for ev, at in db.execute(
            "SELECT event, at FROM audit WHERE actor = 'recovery' AND operation = 'restart-pipeline' ORDER BY id"
        ).fetchall():
            issued = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            if ev in visible:
                latencies.append((issued - visible.pop(ev)) * 1000)
        restarts = json.loads(
            __import__("urllib.request").request.urlopen(f"{args.emulator}/ottd-emulator/restarts").read())
        print(f"events={EVENTS} burst={len(ordered)} distinct_alerts={len(keys)} actionable={len(names)}")
        print(f"put_s={put_s:.2f} all_recorded_s={all_recorded_s:.2f}")
        print(f"alerts_recorded={rows} expected={len(keys)} duplicates={dup} quarantined={quarantined}")
        print(f"recovery_actions={len(latencies)} restarts_seen_by_aws={len(restarts)}")
        print(f"visible_to_action_ms p50={pct(latencies, 0.5):.1f} p99={pct(latencies, 0.99):.1f} max={max(latencies or [0]):.1f}")
        print(f"daemon_peak_rss_mb={vmhwm_mb(daemon.pid):.1f}")
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()


if __name__ == "__main__":
    main()
