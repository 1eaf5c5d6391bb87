"""SQLite's own part of rustig's ingest: the rows one batch of 1 000 events keeps (its events,
its records, its notices, with rustig's schema and indexes), inserted by Python's sqlite3 in
multi-row statements of 256 rows (as rustig's ingest binds them), WAL, synchronous = FULL,
16 KiB pages, one commit per batch. No parsing, no planning, no deduplication reads: only the
writes. Triggers on the three tables are left out (the only one, on notices, fires on delete).

The rows come from a bench store (`rustig bench --events 100000 --no-daemon --no-smtp
--work-dir DIR --keep` leaves it in DIR/a.db), made pending again, and are written in the order
their events arrived. `all` keeps rustig's schema as it is; `table_only` leaves out every
secondary index of events, records and notices (which the constraints of issue 18 rule out:
it shows the bare tables' cost). BENCHMARKS.md, issue 18, twenty-second round.

usage: python3 bench/experiments/own_part.py SOURCE_STORE DEST_FILE all|table_only
"""
import os, sqlite3, sys, time

src_path, dst_path, variant = sys.argv[1], sys.argv[2], sys.argv[3]
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(dst_path + suffix):
        os.remove(dst_path + suffix)
src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
dst = sqlite3.connect(dst_path, isolation_level=None)
dst.execute("PRAGMA page_size = 16384")
dst.execute("PRAGMA journal_mode = WAL")
dst.execute("PRAGMA synchronous = FULL")
dst.execute("PRAGMA wal_autocheckpoint = 2048")  # 32 MiB of 16 KiB pages, as rustig
dst.execute("PRAGMA cache_size = -16384")
skipped = []
for typ, name, tbl, sql in src.execute(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
    "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table' DESC, rowid"
):
    if variant == "table_only" and typ == "index" and tbl in ("notices", "events", "records"):
        skipped.append(name)
        continue
    if typ == "trigger" and tbl in ("notices", "events", "records"):
        skipped.append(name)
        continue
    dst.execute(sql)

def columns(table):
    return [r[1] for r in src.execute(f"PRAGMA table_info({table})")]

pending = {"state": "'pending'", "message_id": "NULL", "message_key": "NULL",
           "sent_at": "NULL", "claimed_until": "NULL", "attempts": "0", "grouped": "0",
           "last_error": "NULL"}
ncols = [c for c in columns("notices") if c != "id"]
nsel = ", ".join(pending.get(c, c) for c in ncols)
ecols, rcols = columns("events"), columns("records")

events = src.execute(
    f"SELECT {', '.join(ecols)} FROM events ORDER BY received_at, id").fetchall()
records = {}
for r in src.execute(f"SELECT {', '.join(rcols)} FROM records"):
    records.setdefault(r[rcols.index("event_id")], []).append(r)
notices = {}
for r in src.execute(f"SELECT {nsel}, event_id FROM notices ORDER BY id"):
    notices.setdefault(r[-1], []).append(r[:-1])

CHUNK = 256  # rows a statement, as rustig's ingest binds them

def inserter(table, cols, tail=""):
    one = "(" + ", ".join("?" * len(cols)) + ")"
    full = f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join([one] * CHUNK)} {tail}"

    def run(rows):
        at = 0
        while len(rows) - at >= CHUNK:
            dst.execute(full, [v for r in rows[at:at + CHUNK] for v in r])
            at += CHUNK
        if at < len(rows):
            rest = rows[at:]
            dst.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"{', '.join([one] * len(rest))} {tail}", [v for r in rest for v in r])
    return run

ins_e = inserter("events", ecols)
ins_r = inserter("records", rcols, "ON CONFLICT DO NOTHING")
ins_n = inserter("notices", ncols)
t = {"events": 0.0, "records": 0.0, "notices": 0.0, "commit": 0.0}
rows = {"events": 0, "records": 0, "notices": 0}
started = time.perf_counter()
eid = ecols.index("id")
for at in range(0, len(events), 1000):
    batch = events[at:at + 1000]
    ids = [e[eid] for e in batch]
    rs = [r for i in ids for r in records.get(i, [])]
    ns = [n for i in ids for n in notices.get(i, [])]
    dst.execute("BEGIN IMMEDIATE")
    c = time.perf_counter(); ins_e(batch); t["events"] += time.perf_counter() - c
    c = time.perf_counter(); ins_r(rs); t["records"] += time.perf_counter() - c
    c = time.perf_counter(); ins_n(ns); t["notices"] += time.perf_counter() - c
    c = time.perf_counter(); dst.execute("COMMIT"); t["commit"] += time.perf_counter() - c
    rows["events"] += len(batch); rows["records"] += len(rs); rows["notices"] += len(ns)
total = time.perf_counter() - started
k = rows["events"] / 1000
print(f"{variant}: {rows['events']} events, {rows['records']} records, {rows['notices']} notices "
      f"in {total:.2f} s = {rows['events'] / total:,.0f} events/s; per 1 000 events: "
      + " / ".join(f"{n} {v / k * 1000:.1f}" for n, v in t.items())
      + f" ms; total {total / k * 1000:.1f} ms"
      + (f"; without {', '.join(skipped)}" if skipped else ""))
