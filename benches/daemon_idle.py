"""The idle daemon for scripts/bench-scheduler.sh: start-to-ready time and resident memory.

Starts `ottd --config CONFIG run` RUNS times (the caller's environment keeps AWS on
loopback), polls GET /readyz on 127.0.0.1:PORT every 2 ms until the first 200 (at most
10 s), waits 2 s, reads the process's VmRSS/VmHWM/Threads from /proc, then stops it with
SIGTERM (SIGKILL if it has not exited after 10 s). Prints key=value lines. RSS is split into
anonymous memory (heap, stacks) and file pages (mostly the mapped ottd executable).
"""

import argparse
import http.client
import signal
import statistics
import subprocess
import sys
import time

POLL_S = 0.002
READY_LIMIT_S = 10.0
IDLE_S = 2.0
STOP_LIMIT_S = 10.0


def ready(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    return out


def one_run(ottd, config, port, log):
    start = time.monotonic()
    proc = subprocess.Popen([ottd, "--config", config, "run"], stdout=log, stderr=log)
    try:
        ready_s = None
        while time.monotonic() - start < READY_LIMIT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"ottd run exited with {proc.returncode} before it was ready")
            if ready(port):
                ready_s = time.monotonic() - start
                break
            time.sleep(POLL_S)
        if ready_s is None:
            raise RuntimeError(f"not ready after {READY_LIMIT_S} s")
        time.sleep(IDLE_S)
        status = proc_status(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return ready_s, status, proc.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ottd", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    readies, rss, hwm = [], [], []
    with open(args.log, "ab") as log:
        for i in range(args.runs):
            ready_s, status, code = one_run(args.ottd, args.config, args.port, log)
            readies.append(ready_s * 1000.0)
            rss.append(status["VmRSS"] / 1024.0)
            hwm.append(status["VmHWM"] / 1024.0)
            print(f"run {i + 1}: ready_ms={ready_s * 1000.0:.1f} idle_rss_mb={rss[-1]:.1f} "
                  f"(anon {status['RssAnon'] / 1024.0:.1f}, file {status['RssFile'] / 1024.0:.1f}) "
                  f"peak_rss_mb={hwm[-1]:.1f} threads={status['Threads']} exit={code}")
            sys.stdout.flush()
    print(f"ready_ms median={statistics.median(readies):.1f} max={max(readies):.1f}")
    print(f"idle_rss_mb median={statistics.median(rss):.1f} max={max(rss):.1f}")


if __name__ == "__main__":
    main()
