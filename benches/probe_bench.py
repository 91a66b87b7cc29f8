#!/usr/bin/env python3
"""Stream probe benchmark, on the emulator's live streams (ffmpeg, HLS + CMAF + DASH):

1. On air: `ottd start` of a deployed event, TRIALS times (stop in between). The figure is
   the time from the first segment of the new encode at the origin (the emulator records it)
   to the CLI's "live" line, in seconds and in target durations. Target: <= 2 target
   durations after the stream is playable.
2. Probe cost: `ottd run` watches the event on air for WINDOW seconds; the emulator counts
   every request and byte it serves at each hop. Target: <= 2 KB/s per event.
3. Stale detection: the encoder is frozen (SIGSTOP) TRIALS times while the daemon watches;
   the figure is the time from the freeze to the `Stream Stale` alert's recorded time (the
   look that said so). Target: <= 3 target durations + the CDN's TTL (0 here: the emulator's
   CDN hop does not cache). Recovery then restarts the pipeline and the alert clears.

Standard library only. Run through scripts/bench-probe.sh.
"""

import argparse
import datetime
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def wait(what, predicate, limit, step=0.05):
    until = time.monotonic() + limit
    while time.monotonic() < until:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"probe bench: timed out waiting for {what}")


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Emulator:
    def __init__(self, python, root, work, segment):
        self.log = open(os.path.join(work, "emulator.log"), "w")
        self.proc = subprocess.Popen(
            [python, os.path.join(root, "tests/emulator/ottd_moto.py"), "--host", "127.0.0.1", "--port", "0",
             "--streams", os.path.join(work, "streams"), "--stream-segment-seconds", str(segment)],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.streams = self.ca = self.url = None
        for line in self.proc.stdout:
            if line.startswith("OTTD_STREAMS_READY "):
                _, self.streams, self.ca = line.split()
            if line.startswith("OTTD_MOTO_READY "):
                self.url = line.split()[1]
                break
        if not (self.url and self.streams):
            raise SystemExit("probe bench: the emulator did not start with streams (is ffmpeg installed?)")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def delete(self, path):
        with urllib.request.urlopen(urllib.request.Request(self.url + path, method="DELETE"), timeout=10) as r:
            return r.read()

    def stream(self, channel):
        return next((s for s in self.get("/ottd-emulator/streams")["streams"] if s["channel_id"] == channel), None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def write_config(root, work, emu):
    addr = emu.streams.removeprefix("https://")
    os.makedirs(os.path.join(work, "schedules"), exist_ok=True)
    with open(os.path.join(work, "schedules", "events.toml"), "w") as f:
        f.write('[[event]]\nid = "final"\n[event.mediaLive]\nchannelClass = "SINGLE_PIPELINE"\n'
                'inputType = "URL_PULL"\npriUrl = "https://example.com/final/index.m3u8"\n'
                '[event.cloudFront]\naccess_logs = false\n')
    path = os.path.join(work, "ottd.toml")
    with open(path, "w") as f:
        f.write(f'[aws]\nregion = "us-east-1"\n[paths]\nstate = "{work}/ottd.db"\n'
                f'workflow = "{root}/config/workflow.toml"\nschedules = "{work}/schedules"\n'
                f'encoding_profiles = "{root}/encoding-profiles"\n[naming]\nprefix = "ottd"\n'
                '[engine]\npoll_interval = "100ms"\nstart_timeout = "30s"\nstop_timeout = "30s"\n'
                '[daemon]\nlisten = "127.0.0.1:0"\nresync_interval = "5s"\n'
                '[alerts]\nbreaker = 100\n'
                f'[probe]\nenabled = true\ncdn_ttl = "0s"\ndeadline = "60s"\n'
                f'connect_to = ["*.cloudfront.net={addr}", "*.amazonaws.com={addr}"]\nca_bundle = "{emu.ca}"\n')
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ottd", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--segment", type=int, default=2)
    ap.add_argument("--window", type=int, default=60)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ottd-probe-bench-")
    emu = Emulator(a.python, a.root, work, a.segment)
    config = write_config(a.root, work, emu)
    env = dict(os.environ, AWS_ENDPOINT_URL=emu.url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", OTTD_CONFIG=config)
    env.pop("OTTD_STATE", None)
    run = lambda *args: subprocess.run([a.ottd, *args], env=env, check=True, capture_output=True, text=True)
    daemon = None
    try:
        run("bootstrap")
        run("deploy", "final")  # autoStart: on air once live
        db = sqlite3.connect(f"file:{work}/ottd.db?mode=ro", uri=True)
        channel = db.execute("SELECT aws_id FROM resources WHERE event = 'final' AND key = 'channel'").fetchone()[0]
        T = a.segment

        # 1. On air.
        lags = []
        for _ in range(a.trials):
            run("stop", "final")
            p = subprocess.Popen([a.ottd, "start", "final"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
            live_at = None
            for line in p.stdout:
                if re.search(r"\blive\s+stream\s+on air", line):
                    live_at = now()
            if p.wait() != 0 or live_at is None:
                raise SystemExit("probe bench: start did not say on air")
            first = parse_time(emu.stream(channel)["first_segment_at"])
            lags.append((live_at - first).total_seconds())
        p50, worst = statistics.median(lags), max(lags)
        print(f"on air after the first segment at the origin ({a.trials} starts, {T} s segments):"
              f" p50 {p50:.2f} s ({p50 / T:.2f} T), max {worst:.2f} s ({worst / T:.2f} T);"
              f" target <= 2 T ({2 * T} s): {'met' if worst <= 2 * T else 'NOT met'}"
              f" (each, in T: {' '.join(f'{x / T:.2f}' for x in lags)})")

        # 2. Probe cost while the daemon watches.
        log = open(os.path.join(work, "daemon.log"), "w")
        daemon = subprocess.Popen([a.ottd, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait("the daemon ready", lambda: "ottd daemon ready" in open(os.path.join(work, "daemon.log")).read(), 30)
        time.sleep(3 * T)  # its first looks (a first look only remembers)
        emu.delete("/ottd-emulator/streams/counters")
        time.sleep(a.window)
        hops = emu.stream(channel)["hops"]
        total_b = hops["origin"]["bytes"] + hops["cdn"]["bytes"]
        total_r = hops["origin"]["requests"] + hops["cdn"]["requests"]
        rate = total_b / a.window
        print(f"probe cost while on air ({a.window} s, 1 event, HLS + CMAF + DASH at both hops, looks every"
              f" {T} s): {total_r / a.window * 60:.0f} requests/min, {rate / 1024:.2f} KB/s"
              f" (origin {hops['origin']['bytes'] / a.window / 1024:.2f}, CloudFront {hops['cdn']['bytes'] / a.window / 1024:.2f});"
              f" target <= 2 KB/s per event: {'met' if rate <= 2048 else 'NOT met'}")

        # 3. Stale detection.
        delays = []
        for _ in range(max(3, a.trials // 2)):
            seen = {r[0] for r in db.execute("SELECT id FROM alerts WHERE alert_type = 'Stream Stale'")}
            frozen = now()
            emu.post(f"/ottd-emulator/streams/{channel}", {"do": "freeze"})
            row = wait("Stream Stale", lambda: next((r for r in db.execute(
                "SELECT id, set_at FROM alerts WHERE alert_type = 'Stream Stale'") if r[0] not in seen), None), 60)
            delays.append((parse_time(row[1]) - frozen).total_seconds())
            # Recovery restarts the pipeline (a fresh encode); the alert clears once it flows.
            wait("Stream Stale cleared", lambda: db.execute(
                "SELECT cleared_at FROM alerts WHERE id = ?", (row[0],)).fetchone()[0], 90)
            time.sleep(2 * T)
        p50, worst = statistics.median(delays), max(delays)
        print(f"stale detected after a freeze ({len(delays)} freezes): p50 {p50:.2f} s ({p50 / T:.2f} T),"
              f" max {worst:.2f} s ({worst / T:.2f} T); target <= 3 T + CDN TTL ({3 * T} s):"
              f" {'met' if worst <= 3 * T else 'NOT met'}")
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(30)
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
