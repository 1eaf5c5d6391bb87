// pg-boss peer for bench/compare: N jobs inserted with `startAfter` (boss.insert, 1000 per
// call), all due at one instant, each delivered by appending a line to a file. The durable
// peer: PostgreSQL commits with fsync (synchronous_commit = on).
//
//   node pgboss.mjs --url postgres://… --jobs N --out FILE [--workers W] [--batch-size B]
//
// Phase 1 (enqueue, hold): N jobs starting after an hour; the insert rate and the size of
// the job table holding them (the jobs live in PostgreSQL, not in this process). Phase 2
// (release): N jobs due at one instant a few seconds after the last is inserted (estimated
// from phase 1), W workers (boss.work, batchSize B) append a line per job. Works in a fresh
// schema, dropped at the end. Prints one JSON object on stdout.

import { appendFileSync, readFileSync } from 'node:fs';
import PgBoss from 'pg-boss';
import pg from 'pg';

function args() {
  const a = { workers: 4, batchSize: 1000, lead: 3, bulk: 1000, polling: 0.5 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    a[v[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v[i + 1];
  }
  for (const k of ['jobs', 'workers', 'batchSize', 'lead', 'bulk', 'polling']) a[k] = Number(a[k]);
  return a;
}

function payload(i) {
  const s = `s-${i % 20000}`;
  return {
    i,
    student: s,
    recipient: `g-${i % 20000}-1`,
    kind: 'grade',
    subject: 'wiskunde',
    value: '6,8',
    text: `Toets H3 voor ${s}: nieuw cijfer beschikbaar`.padEnd(110, '.'),
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

async function enqueue(boss, name, n, bulk, startAfter) {
  const start = performance.now();
  for (let i = 0; i < n; i += bulk) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + bulk); j++) {
      jobs.push({ name, data: payload(j), startAfter });
    }
    await boss.insert(jobs);
  }
  return (performance.now() - start) / 1000;
}

async function main() {
  const a = args();
  const n = a.jobs;
  const schema = `pgboss_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: a.url });
  await admin.connect();
  const boss = new PgBoss({ connectionString: a.url, schema, supervise: false, schedule: false });
  boss.on('error', (e) => console.error(e));
  try {
    await boss.start();

    await boss.createQueue('hold');
    const enqueueS = await enqueue(boss, 'hold', n, a.bulk, new Date(Date.now() + 3600_000));
    const held = await boss.getQueueSize('hold');
    if (held !== n) throw new Error(`${held} jobs queued, expected ${n}`);
    const size = await admin.query(
      `SELECT SUM(pg_total_relation_size(c.oid))::BIGINT AS bytes FROM pg_class c
       JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'p')`,
      [schema],
    );
    await boss.purgeQueue('hold');
    await boss.deleteQueue('hold');

    await boss.createQueue('release');
    const due = Date.now() + Math.ceil(enqueueS * 1500) + a.lead * 1000;
    const lateness = [];
    let last = 0;
    let done = 0;
    let finished;
    const allDone = new Promise((resolve) => (finished = resolve));
    const handler = async (jobs) => {
      for (const job of jobs) {
        const now = Date.now();
        appendFileSync(a.out, `${job.id} ${job.data.recipient} ${now}\n`);
        lateness.push(now - due);
        last = Math.max(last, now);
        if (++done === n) finished();
      }
    };
    const releaseEnqueueS = await enqueue(boss, 'release', n, a.bulk, new Date(due));
    if (Date.now() >= due) throw new Error('the release jobs were due before they were all inserted');
    for (let w = 0; w < a.workers; w++) {
      await boss.work('release', { batchSize: a.batchSize, pollingIntervalSeconds: a.polling }, handler);
    }
    await allDone;
    await boss.offWork('release');
    const lines = readFileSync(a.out, 'utf8').split('\n').filter(Boolean).length;
    lateness.sort((x, y) => x - y);
    const releaseS = (last - due) / 1000;
    console.log(
      JSON.stringify({
        peer: 'pg-boss',
        jobs: n,
        enqueue_s: enqueueS,
        enqueue_per_s: n / enqueueS,
        release_enqueue_s: releaseEnqueueS,
        hold_rss_mb: null,
        hold_disk_mb: Number(size.rows[0].bytes) / 1e6,
        hold_what: 'job table on disk (the jobs live in PostgreSQL)',
        release_s: releaseS,
        release_per_s: n / releaseS,
        lateness_p50_ms: percentile(lateness, 50),
        lateness_p99_ms: percentile(lateness, 99),
        lines,
        settings: `insert ${a.bulk}, ${a.workers} workers, batchSize ${a.batchSize}, polling ${a.polling} s`,
        durable: true,
      }),
    );
  } finally {
    await boss.stop({ graceful: false, wait: true }).catch(() => {});
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
