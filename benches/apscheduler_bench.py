"""The comparison for benches/scheduler.rs: the same 10,000 jobs in APScheduler 3.

5,000 DateTrigger jobs whose run times are spread evenly over one minute (from 3 s after the
start) and 5,000 CronTrigger(second='*/10') jobs, on a BackgroundScheduler with its defaults
(memory job store, thread pool of 10). Each job records its lateness: time.time() when it runs
minus its scheduled run time. misfire_grace_time is lifted so a late job still runs and counts
(the default, 1 s, would drop it instead). Prints key=value lines like the Rust bench.
"""

import math
import resource
import threading
import time
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

ONCE = 5_000
CRON = 5_000
FIRST_S = 3.0
SPREAD_S = 60.0
PERIOD_S = 10
# The Rust bench runs until the last one-off window is torn down, about this long.
RUN_S = 71.0

late = []
lock = threading.Lock()


def once_job(run_at):
    now = time.time()
    with lock:
        late.append(now - run_at)


def cron_job():
    now = time.time()
    # The occurrence this run answers: the last multiple of 10 s (lateness stays under 10 s).
    with lock:
        late.append(now - math.floor(now / PERIOD_S) * PERIOD_S)


def pct(sorted_values, q):
    rank = min(max(math.ceil(q * len(sorted_values)), 1), len(sorted_values))
    return sorted_values[rank - 1] * 1000.0


def main():
    sched = BackgroundScheduler(timezone=timezone.utc, job_defaults={"misfire_grace_time": 3600})
    start = time.time()
    first = start + FIRST_S
    step = SPREAD_S / ONCE
    for i in range(ONCE):
        run_at = first + i * step
        sched.add_job(once_job, "date", run_date=datetime.fromtimestamp(run_at, timezone.utc),
                      args=(run_at,), id=f"once-{i:04}")
    for i in range(CRON):
        sched.add_job(cron_job, "cron", second=f"*/{PERIOD_S}", id=f"cron-{i:04}")
    sched.start()
    load_ms = (time.time() - start) * 1000.0
    stop = start + RUN_S
    while time.time() < stop:
        time.sleep(min(1.0, max(0.0, stop - time.time())))
    sched.shutdown(wait=False)
    with lock:
        values = sorted(late)
    # A cron run started while the jobs were still being added counts too; nothing is excluded.
    expected_cron = sum(1 for k in range(math.ceil(start / PERIOD_S), math.floor(stop / PERIOD_S) + 1))
    print(f"events={ONCE + CRON} once={ONCE} cron={CRON}")
    print(f"load_ms={load_ms:.1f} run_s={RUN_S:.1f}")
    print(f"fires={len(values)} expected~{ONCE + CRON * expected_cron}")
    if values:
        over = sum(1 for v in values if v > 0.010)
        print(f"lateness_ms p50={pct(values, 0.5):.3f} p99={pct(values, 0.99):.3f} "
              f"max={pct(values, 1.0):.3f} over_10ms={over}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"rss_mb peak={peak_kb / 1024.0:.1f}")


if __name__ == "__main__":
    main()
