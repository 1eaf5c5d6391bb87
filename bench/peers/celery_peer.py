"""Celery peer for bench/compare: N tasks with `apply_async(eta=...)` on a Redis broker, all
due at one instant, each delivered by appending a line to a file.

    python celery_peer.py --broker redis://127.0.0.1:P/0 --jobs N --out FILE [--concurrency C]

Phase 1 (enqueue, hold): a worker runs; N tasks with an ETA half an hour ahead. Celery keeps
ETA tasks in the worker's memory: the worker's peak RSS (VmHWM) once it holds them all. The
worker is then killed and the broker flushed. Phase 2 (release): a fresh worker; N tasks due at
one instant a few seconds after the last is sent (estimated from phase 1). Release rate: tasks
per second from the due instant to the last line. Prints one JSON object on stdout.
Run with the Python that has celery[redis] installed, from this folder (or with it on
PYTHONPATH), so that the worker finds `celery_tasks`.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone


def payload(i):
    s = f"s-{i % 20000}"
    return {
        "i": i,
        "student": s,
        "recipient": f"g-{i % 20000}-1",
        "kind": "grade",
        "subject": "wiskunde",
        "value": "6,8",
        "text": f"Toets H3 voor {s}: nieuw cijfer beschikbaar".ljust(110, "."),
    }


def mem_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def percentile(values, p):
    if not values:
        return 0
    rank = -(-p * len(values) // 100)
    return values[min(max(int(rank), 1), len(values)) - 1]


def start_worker(args, log):
    env = dict(os.environ, BENCH_BROKER=args.broker)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        sys.executable, "-m", "celery", "-A", "celery_tasks", "worker",
        "--pool", "prefork", "--concurrency", str(args.concurrency),
        "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    p = subprocess.Popen(cmd, cwd=here, env=env, stdout=log, stderr=log, start_new_session=True)
    from celery_tasks import app

    deadline = time.time() + 60
    while time.time() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"the celery worker exited with {p.returncode}")
        if app.control.ping(timeout=0.5):
            return p
    raise SystemExit("the celery worker did not answer within 60 s")


def stop_worker(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def enqueue(deliver, n, out, eta):
    start = time.perf_counter()
    for i in range(n):
        deliver.apply_async(args=[payload(i), out], eta=eta)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--lead", type=float, default=3.0)
    ap.add_argument("--log", default=os.devnull)
    args = ap.parse_args()
    os.environ["BENCH_BROKER"] = args.broker
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import redis
    from celery_tasks import deliver

    r = redis.Redis.from_url(args.broker)
    r.flushdb()
    n = args.jobs
    log = open(args.log, "ab")

    worker = start_worker(args, log)
    try:
        hold_file = args.out + ".hold"
        enqueue_s = enqueue(deliver, n, hold_file, datetime.now(timezone.utc) + timedelta(minutes=30))
        # Wait until the worker has taken every task off the broker's list (it holds ETA tasks).
        deadline = time.time() + 600
        while r.llen("celery") > 0 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        mem = mem_kb(worker.pid)
    finally:
        stop_worker(worker)
    r.flushdb()

    worker = start_worker(args, log)
    try:
        due = time.time() + enqueue_s * 1.5 + args.lead
        release_enqueue_s = enqueue(deliver, n, args.out, datetime.fromtimestamp(due, timezone.utc))
        if time.time() >= due:
            raise SystemExit("the release tasks were due before they were all sent")
        deadline = due + 600
        lines = 0
        while time.time() < deadline:
            try:
                with open(args.out, "rb") as f:
                    lines = f.read().count(b"\n")
            except FileNotFoundError:
                lines = 0
            if lines >= n:
                break
            time.sleep(0.2)
    finally:
        stop_worker(worker)
        r.flushdb()
    times = []
    with open(args.out) as f:
        for line in f:
            times.append(float(line.split()[2]))
    lateness = sorted((t - due) * 1000 for t in times)
    release_s = max(times) - due if times else 0.0
    print(json.dumps({
        "peer": "celery",
        "jobs": n,
        "enqueue_s": enqueue_s,
        "enqueue_per_s": n / enqueue_s,
        "release_enqueue_s": release_enqueue_s,
        "hold_rss_mb": mem.get("VmHWM", 0) / 1024,
        "hold_what": "celery worker VmHWM",
        "release_s": release_s,
        "release_per_s": len(times) / release_s if release_s > 0 else 0,
        "lateness_p50_ms": percentile(lateness, 50),
        "lateness_p99_ms": percentile(lateness, 99),
        "lines": len(times),
        "settings": f"apply_async one by one, prefork worker, concurrency {args.concurrency}",
        "durable": False,
    }))


if __name__ == "__main__":
    main()
