// BullMQ peer for bench/compare: N delayed jobs (Queue.addBulk with `delay`), all due at one
// instant, each delivered by appending a line to a file.
//
//   node bullmq.mjs --redis-port P --redis-pid PID --jobs N --out FILE [--concurrency C]
//
// Phase 1 (enqueue, hold): N jobs delayed by an hour, added in bulks of 1000; the enqueue
// rate, and Redis's peak RSS (VmHWM) holding them. The queue is then obliterated.
// Phase 2 (release): N jobs again, all due at one instant a few seconds after the last is
// added (estimated from phase 1); a Worker appends a line per job. Release rate: jobs per
// second from the due instant to the last line; lateness: line time minus due.
// Prints one JSON object on stdout. Redis must be running (bench/compare starts it).

import { appendFileSync, readFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';

function args() {
  const a = { concurrency: 50, lead: 3, bulk: 1000 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    a[v[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v[i + 1];
  }
  for (const k of ['redisPort', 'redisPid', 'jobs', 'concurrency', 'lead', 'bulk']) a[k] = Number(a[k]);
  return a;
}

function payload(i) {
  // About 200 bytes, like a rendered notice reference.
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

function memKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

async function enqueue(queue, n, bulk, dueAt) {
  const start = performance.now();
  for (let i = 0; i < n; i += bulk) {
    const now = Date.now();
    const jobs = [];
    for (let j = i; j < Math.min(n, i + bulk); j++) {
      jobs.push({
        name: 'notice',
        data: payload(j),
        opts: { delay: Math.max(0, dueAt - now), removeOnComplete: true },
      });
    }
    await queue.addBulk(jobs);
  }
  return (performance.now() - start) / 1000;
}

async function main() {
  const a = args();
  const connection = { host: '127.0.0.1', port: a.redisPort, maxRetriesPerRequest: null };
  const n = a.jobs;

  const hold = new Queue('bench-hold', { connection });
  await hold.waitUntilReady();
  const enqueueS = await enqueue(hold, n, a.bulk, Date.now() + 3600_000);
  const delayed = await hold.getDelayedCount();
  if (delayed !== n) throw new Error(`${delayed} delayed jobs, expected ${n}`);
  const mem = memKb(a.redisPid);
  await hold.obliterate({ force: true });
  await hold.close();

  const queue = new Queue('bench-release', { connection });
  await queue.waitUntilReady();
  const due = Date.now() + Math.ceil(enqueueS * 1500) + a.lead * 1000;
  const lateness = [];
  let last = 0;
  let done = 0;
  let finished;
  const allDone = new Promise((resolve) => (finished = resolve));
  const worker = new Worker(
    'bench-release',
    async (job) => {
      const now = Date.now();
      appendFileSync(a.out, `${job.id} ${job.data.recipient} ${now}\n`);
      lateness.push(now - due);
      last = Math.max(last, now);
      if (++done === n) finished();
    },
    { connection, concurrency: a.concurrency },
  );
  await worker.waitUntilReady();
  const releaseEnqueueS = await enqueue(queue, n, a.bulk, due);
  if (Date.now() >= due) throw new Error('the release jobs were due before they were all added');
  await allDone;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  const lines = readFileSync(a.out, 'utf8').split('\n').filter(Boolean).length;
  lateness.sort((x, y) => x - y);
  const releaseS = (last - due) / 1000;
  console.log(
    JSON.stringify({
      peer: 'bullmq',
      jobs: n,
      enqueue_s: enqueueS,
      enqueue_per_s: n / enqueueS,
      release_enqueue_s: releaseEnqueueS,
      hold_rss_mb: mem.hwm / 1024,
      hold_what: 'redis-server VmHWM',
      release_s: releaseS,
      release_per_s: n / releaseS,
      lateness_p50_ms: percentile(lateness, 50),
      lateness_p99_ms: percentile(lateness, 99),
      lines,
      settings: `addBulk ${a.bulk}, Worker concurrency ${a.concurrency}, removeOnComplete`,
      durable: false,
    }),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
