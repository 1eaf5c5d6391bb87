"""The physical limit for bench/compare: raw SQLite (WAL, synchronous = FULL, as rustig's
store) inserting N rows of about 200 bytes in transactions of 1000, then draining them in
batches of 1000 (select the earliest due, delete them, commit), appending a line per row.

    python3 sqlite_raw.py --db FILE --jobs N --out FILE [--batch 1000]

Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sqlite3
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.db + suffix):
            os.remove(args.db + suffix)
    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, due INTEGER NOT NULL, recipient TEXT NOT NULL, "
        "payload TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX jobs_due ON jobs (due)")
    n, batch = args.jobs, args.batch
    due = int(time.time() * 1000) + 3_600_000
    text = "Toets H3: nieuw cijfer beschikbaar".ljust(150, ".")

    start = time.perf_counter()
    for i in range(0, n, batch):
        rows = [
            (due, f"g-{j % 20000}-1", f'{{"i":{j},"student":"s-{j % 20000}","text":"{text}"}}')
            for j in range(i, min(n, i + batch))
        ]
        db.execute("BEGIN")
        db.executemany("INSERT INTO jobs (due, recipient, payload) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
    insert_s = time.perf_counter() - start
    row_bytes = db.execute("SELECT AVG(LENGTH(recipient) + LENGTH(payload) + 16) FROM jobs").fetchone()[0]

    drained = 0
    start = time.perf_counter()
    with open(args.out, "a") as out:
        while True:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT id, recipient FROM jobs WHERE due <= ? ORDER BY due LIMIT ?", (due, batch)
            ).fetchall()
            if not rows:
                db.execute("COMMIT")
                break
            db.executemany("DELETE FROM jobs WHERE id = ?", [(r[0],) for r in rows])
            db.execute("COMMIT")
            for r in rows:
                out.write(f"{r[0]} {r[1]}\n")
            out.flush()
            drained += len(rows)
    drain_s = time.perf_counter() - start
    db.close()
    print(json.dumps({
        "peer": "sqlite",
        "jobs": n,
        "enqueue_s": insert_s,
        "enqueue_per_s": n / insert_s,
        "release_s": drain_s,
        "release_per_s": drained / drain_s,
        "lines": drained,
        "row_bytes": row_bytes,
        "hold_rss_mb": None,
        "settings": f"python sqlite3 {sqlite3.sqlite_version}, WAL, synchronous FULL, {batch} rows per transaction",
        "durable": True,
    }))


if __name__ == "__main__":
    main()
