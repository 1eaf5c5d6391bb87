"""Prints bench/compare's table: rustig and each peer side by side, medians of the runs, with
rustig's ratio to each peer. Reads run-<n>-<peer>.json from the work folder (one JSON object
from each driver; rustig's is `rustig bench --json`).

    python3 summarize.py --work DIR --runs N --events N [--json FILE]
"""

import argparse
import json
import os
import statistics

PEERS = [("bullmq", "BullMQ"), ("pgboss", "pg-boss"), ("celery", "Celery"), ("sqlite", "raw SQLite")]


def load(work, runs, name):
    out = []
    for r in range(1, runs + 1):
        p = os.path.join(work, f"run-{r}-{name}.json")
        if os.path.exists(p) and os.path.getsize(p) > 0:
            with open(p) as f:
                text = f.read().strip()
            out.append(json.loads(text.splitlines()[-1] if name != "rustig" else text))
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rustig_figures(report):
    ingest = {i["path"]: i for i in report["ingest"]}
    release = {r["sink"]: r for r in report["release"]}
    d = report.get("daemon") or {}
    null, smtp = release.get("null", {}), release.get("smtp", {})
    return {
        "ingest_http": ingest.get("http", {}).get("events_per_s"),
        "ingest_inproc": ingest.get("in-process", {}).get("events_per_s"),
        "release": null.get("notices_per_s"),
        "release_messages": null.get("messages_per_s"),
        "p50": null.get("lateness_p50_ms"),
        "p99": null.get("lateness_p99_ms"),
        "smtp_messages": smtp.get("messages_per_s"),
        "smtp_p99": smtp.get("lateness_p99_ms"),
        "hold_mb": d["vm_hwm_kb"] / 1024 if d.get("vm_hwm_kb") else None,
        "restart_s": d.get("ready_s"),
        "notices": report["backlog"]["pending_notices"],
        "load": report["machine"]["load"],
    }


def fmt(v, unit=""):
    if v is None:
        return "–"
    if abs(v) >= 100:
        s = f"{v:,.0f}".replace(",", " ")
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--json")
    args = ap.parse_args()

    rustig_runs = [rustig_figures(r) for r in load(args.work, args.runs, "rustig")]
    rustig = {k: median([r[k] for r in rustig_runs]) for k in rustig_runs[0]} if rustig_runs else {}
    peers = {}
    problems = []
    for key, _ in PEERS:
        runs = load(args.work, args.runs, key)
        if not runs:
            continue
        for i, r in enumerate(runs, 1):
            if r.get("lines") != r.get("jobs"):
                problems.append(f"{key} run {i}: {r.get('lines')} lines for {r.get('jobs')} jobs")
        peers[key] = {
            "runs": len(runs),
            "enqueue": median([r.get("enqueue_per_s") for r in runs]),
            "release": median([r.get("release_per_s") for r in runs]),
            "p50": median([r.get("lateness_p50_ms") for r in runs]),
            "p99": median([r.get("lateness_p99_ms") for r in runs]),
            "hold_mb": median([r.get("hold_rss_mb") for r in runs]),
            "hold_disk_mb": median([r.get("hold_disk_mb") for r in runs]),
            "hold_what": runs[0].get("hold_what"),
            "durable": runs[0].get("durable"),
            "settings": runs[0].get("settings"),
        }

    cols = [("rustig", "rustig")] + [(k, label) for k, label in PEERS if k in peers]
    rows = []

    def row(label, rustig_cell, peer_cell):
        rows.append([label, rustig_cell] + [peer_cell(k) for k, _ in cols[1:]])

    g = lambda k, f: (lambda p: f(peers[p].get(k)))  # noqa: E731
    row("enqueue / ingest, jobs/s (rustig: HTTP NDJSON)", fmt(rustig.get("ingest_http")), g("enqueue", fmt))
    row("  rustig HTTP ÷ peer", "", lambda p: ratio(rustig.get("ingest_http"), peers[p]["enqueue"]))
    row("  rustig in-process ingest, events/s", fmt(rustig.get("ingest_inproc")), lambda p: "")
    row("  rustig in-process ÷ peer", "", lambda p: ratio(rustig.get("ingest_inproc"), peers[p]["enqueue"]))
    row("release, jobs/s (rustig: notices/s, null sink)", fmt(rustig.get("release")), g("release", fmt))
    row("  rustig ÷ peer", "", lambda p: ratio(rustig.get("release"), peers[p]["release"]))
    row("  rustig messages/s (null sink)", fmt(rustig.get("release_messages")), lambda p: "")
    row(
        "lateness p50 / p99, ms",
        f"{fmt(rustig.get('p50'))} / {fmt(rustig.get('p99'))}",
        lambda p: "–" if peers[p]["p50"] is None else f"{fmt(peers[p]['p50'])} / {fmt(peers[p]['p99'])}",
    )
    row(
        "hold: peak RSS with the backlog, MB",
        fmt(rustig.get("hold_mb")) + " (daemon)",
        lambda p: (fmt(peers[p]["hold_mb"]) + {"bullmq": " (redis)", "celery": " (worker)"}.get(p, ""))
        if peers[p]["hold_mb"] is not None
        else ("on disk " + fmt(peers[p]["hold_disk_mb"]) if peers[p]["hold_disk_mb"] else "–"),
    )
    row("durable when acknowledged", "yes", lambda p: "yes" if peers[p]["durable"] else "no")
    row("rustig restart with the backlog, s", fmt(rustig.get("restart_s")), lambda p: "")

    header = ["", "rustig"] + [label for _, label in cols[1:]]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    nruns = len(rustig_runs)
    notices = rustig.get("notices")
    n = fmt(args.events)
    print(f"bench/compare: {n} jobs, all due at one instant; medians of {args.runs} run(s)")
    if notices:
        print(
            f"rustig: {n} events planned into {fmt(notices)} notices (student + guardians); "
            "its rates count events in, notices out"
        )
    print()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()
    for k, label in cols[1:]:
        print(f"{label}: {peers[k]['settings']}; {peers[k]['runs']} run(s)")
    print(f"rustig: {nruns} run(s) of `rustig bench --events {args.events}`")
    for p in problems:
        print(f"PROBLEM: {p}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"events": args.events, "runs": args.runs, "rustig": rustig, "peers": peers}, f, indent=2)


if __name__ == "__main__":
    main()
