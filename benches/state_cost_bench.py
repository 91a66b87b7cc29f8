#!/usr/bin/env python3
"""What the shared state costs on DynamoDB: requests and request units per event lifecycle
(deploy -> start -> stop -> teardown of the seed workflow, run by a pair of daemons) and per
idle daemon-hour, priced at DynamoDB's on-demand rates, for 20 events a day with a pair.

Every DynamoDB request of the daemons goes through the delay proxy (AWS_ENDPOINT_URL_DYNAMODB),
which logs each one with its size and its answer's size; everything else goes straight to the
emulator. Request units are estimated as DynamoDB bills them:
  writes: 1 WRU per KB of each item written (the request body is the size used: an upper
          bound), twice that inside TransactWriteItems;
  reads:  strongly consistent: 1 RRU per 4 KB read (the answer's size: an upper bound, JSON
          is larger than DynamoDB's item size); DescribeTable and other control-plane calls
          are free.
Standard library only. Run through scripts/bench-state-cost.sh.
"""

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time

# On-demand, us-east-1, since 2024-11-01 (the 50% cut): USD per million request units.
PRICE_WRU = 0.625
PRICE_RRU = 0.125
FREE = ("DescribeTable", "CreateTable", "UpdateTimeToLive", "UpdateContinuousBackups", "DescribeTimeToLive")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def units(entries):
    """(requests by operation, WRU, RRU) of proxy log entries."""
    by_op, wru, rru = {}, 0, 0
    for e in entries:
        op = e["key"].rsplit(".", 1)[-1]
        by_op[op] = by_op.get(op, 0) + 1
        if op in FREE:
            continue
        if op in WRITES:
            items = max(1, e.get("items", 1))
            per_item = math.ceil(e["bytes"] / items / 1024) or 1
            wru += items * per_item * (2 if op == "TransactWriteItems" else 1)
        else:
            rru += max(1, math.ceil(e.get("answer_bytes", 0) / 4096))
    return by_op, wru, rru


def read_log(path):
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                entries.append(json.loads(line))
    return entries


def write_config(root, work, events, resync):
    os.makedirs(os.path.join(work, "schedules"), exist_ok=True)
    with open(os.path.join(work, "schedules", "events.toml"), "w", encoding="utf-8") as f:
        f.write(events)
    path = os.path.join(work, "ottd.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            '[aws]\nregion = "us-east-1"\n'
            f'[paths]\nstate = "{work}/ottd.db"\nworkflow = "{root}/config/workflow.toml"\n'
            f'schedules = "{work}/schedules"\nencoding_profiles = "{root}/encoding-profiles"\n'
            '[naming]\nprefix = "ottd"\n'
            '[probe]\nenabled = false\n'
            '[engine]\npoll_interval = "500ms"\nstart_timeout = "30s"\nstop_timeout = "30s"\n'
            f'[daemon]\nlisten = "127.0.0.1:0"\nresync_interval = "{resync}"\n'
            '[state]\nbackend = "dynamodb"\ntable = "ottd-state"\n'
        )
    return path


def event(eid, start, end, extra=""):
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (
        f'[[event]]\nid = "{eid}"\nstart = "{start.strftime(fmt)}"\nend = "{end.strftime(fmt)}"\n{extra}'
        '[event.mediaLive]\nchannelClass = "SINGLE_PIPELINE"\ninputType = "URL_PULL"\n'
        f'priUrl = "https://example.com/{eid}/index.m3u8"\n[event.cloudFront]\naccess_logs = false\n'
    )


def seed_history(emulator, deployments, alerts):
    """A month of history, as a pair accumulates it: torn-down deployments (their row and plan
    copied from the real one) and settled alerts, written straight into the table with boto3
    (it comes with moto). Queries are billed on the items they read, so history is what makes
    a partition-wide read expensive."""
    import boto3

    db = boto3.client("dynamodb", endpoint_url=emulator, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    row = db.get_item(TableName="ottd-state", Key={"pk": {"S": "DEPLOYMENT"}, "sk": {"S": "final"}})["Item"]
    plan = db.get_item(TableName="ottd-state", Key={"pk": {"S": "PLAN"}, "sk": {"S": "final"}}).get("Item")
    items = []
    for i in range(deployments):
        items.append(dict(row, sk={"S": f"past-{i}"}))
        if plan:
            items.append(dict(plan, sk={"S": f"past-{i}"}))
    t = "2026-11-20T20:00:00.000Z"
    for i in range(alerts):
        aid = 10_000_000 + i
        items.append({
            "pk": {"S": "ALERT"}, "sk": {"S": f"{aid:020}"}, "id": {"N": str(aid)}, "event": {"S": f"past-{i % max(1, deployments)}"},
            "channel_id": {"S": "1234567"}, "pipeline": {"N": "0"}, "alarm_id": {"S": f"a{i}"},
            "alert_type": {"S": "Video Not Detected"}, "message": {"S": "Video not detected on the input"},
            "set_at": {"S": t}, "last_time": {"S": t}, "cleared_at": {"S": t}, "notified_at": {"S": t},
            "cleared_notified": {"BOOL": True},
        })
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]
        db.batch_write_item(RequestItems={"ottd-state": batch})


def status_phase(ottd, env, eid):
    out = subprocess.run([ottd, "--output", "json", "status", eid], env=env, capture_output=True, text=True)
    try:
        return json.loads(out.stdout).get("phase")
    except ValueError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ottd", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--root", required=True)
    ap.add_argument("--idle-seconds", type=int, default=60)
    ap.add_argument("--history-deployments", type=int, default=600, help="a month of 20 events a day")
    ap.add_argument("--history-alerts", type=int, default=3000, help="settled alerts kept (90 days by default)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ottd-state-cost-")
    log = os.path.join(work, "requests.jsonl")
    proxy = subprocess.Popen(
        [args.python, os.path.join(args.root, "tests/emulator/delay_proxy.py"), "--upstream", args.emulator,
         "--delay-ms", "0", "--log-requests", log],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proxy_url = proxy.stdout.readline().split()[-1]
    now = datetime.datetime.now(datetime.timezone.utc)
    # One short event for the lifecycle, and 19 more later today (configured, idle).
    start = now + datetime.timedelta(seconds=12)
    lead = 'deploy_before = "10s"\nstart_before = "2s"\nteardown_after = "1s"\n'
    events = event("final", start, start + datetime.timedelta(seconds=10), lead)
    for i in range(19):
        later = now + datetime.timedelta(hours=3 + i % 6, minutes=i)
        events += event(f"match-{i}", later, later + datetime.timedelta(hours=2), lead)
    conf = write_config(args.root, work, events, "60s")
    direct = dict(os.environ, OTTD_CONFIG=conf, AWS_ENDPOINT_URL=args.emulator, AWS_ACCESS_KEY_ID="bench",
                  AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    counted = dict(direct, AWS_ENDPOINT_URL_DYNAMODB=proxy_url)
    subprocess.run([args.ottd, "bootstrap"], env=direct, check=True, stdout=subprocess.DEVNULL)
    daemons = []
    try:
        for name in ("a", "b"):
            daemons.append(subprocess.Popen([args.ottd, "run"], env=counted,
                                            stdout=open(os.path.join(work, f"{name}.log"), "w"),
                                            stderr=subprocess.STDOUT))
        began = time.monotonic()
        while status_phase(args.ottd, direct, "final") != "torn-down":
            if time.monotonic() - began > 180:
                raise SystemExit("state cost bench: the lifecycle did not finish in 3 minutes")
            time.sleep(0.5)
        lifecycle_s = time.monotonic() - began
        lifecycle = read_log(log)
        seed_history(args.emulator, args.history_deployments, args.history_alerts)
        # Idle: the pair with 19 configured events and nothing due, over that history; then
        # the rate per hour.
        time.sleep(2)
        mark = len(read_log(log))
        time.sleep(args.idle_seconds)
        idle = read_log(log)[mark:]
    finally:
        for d in daemons:
            d.kill()
            d.wait()
        proxy.kill()
        proxy.wait()

    if os.environ.get("BY_PARTITION"):
        counts = {}
        for e in idle:
            k = e["key"].rsplit(".", 1)[-1] + " " + e.get("partition", "").split("#")[0]
            counts[k] = counts.get(k, 0) + 1
        print("idle requests by operation and partition: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    ops, wru, rru = units(lifecycle)
    i_ops, i_wru, i_rru = units(idle)
    per_hour = 3600 / args.idle_seconds
    print(f"lifecycle of one event by a pair (deploy -> start -> stop -> teardown, {lifecycle_s:.0f} s, "
          f"including the pair's start-up): {sum(ops.values())} requests, ~{wru} WRU, ~{rru} RRU")
    print("  by operation: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    print(f"idle pair with 20 events configured and {args.history_deployments} past deployments, "
          f"{args.history_alerts} settled alerts in the table, per hour (default resync 60 s): "
          f"{sum(i_ops.values()) * per_hour:.0f} requests, ~{i_wru * per_hour:.0f} WRU, ~{i_rru * per_hour:.0f} RRU "
          f"(measured over {args.idle_seconds} s: " + ", ".join(f"{k} {v}" for k, v in sorted(i_ops.items())) + ")")
    month_wru = wru * 20 * 30 + i_wru * per_hour * 24 * 30
    month_rru = rru * 20 * 30 + i_rru * per_hour * 24 * 30
    cost = month_wru / 1e6 * PRICE_WRU + month_rru / 1e6 * PRICE_RRU
    print(f"a month of 20 events a day with a pair: ~{month_wru / 1e6:.3f} M WRU, ~{month_rru / 1e6:.3f} M RRU "
          f"= ${cost:.2f} at ${PRICE_WRU}/M WRU and ${PRICE_RRU}/M RRU (on-demand, us-east-1) "
          f"(target: under $1 a month); storage (a few MB) and point-in-time recovery are cents")


if __name__ == "__main__":
    main()
