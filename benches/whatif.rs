//! What a what-if costs on a large school (`cargo bench --bench whatif`; BENCHMARKS.md holds
//! the figures): a SQLite store (WAL, synchronous = FULL, as the daemon runs it) with
//! `--events` events (default 60 000) of a 2 000-student school entered over the last 14
//! days, ingested day by day with what was due sent, so the store holds the deliveries of two
//! weeks and the pending buffer of the last days; then `whatif::run` of a candidate that
//! starts quiet hours at 19:00 and moves the guardians' digest to 18:00, `--runs` times
//! (default 3): the time of each, and what it found.
//!
//! Options: `--events N`, `--students N`, `--runs N`, `--store postgres://…` (give an empty
//! database or schema).

// As the `rustig` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rustig::config::Config;
use rustig::ingest::Ingestor;
use rustig::model::{Directory, Event};
use rustig::shared::Shared;
use rustig::store::Outcome;
use rustig_bench::workload::{self, SCHOOL, ZONE};

fn arg(name: &str) -> Option<String> {
    let v: Vec<String> = std::env::args().collect();
    v.iter()
        .position(|a| a == name)
        .and_then(|i| v.get(i + 1).cloned())
}

/// The school's rules; `quiet` and `slot` are what the candidate changes.
fn config_text(store_url: &str, directory: &str, quiet: &str, slot: &str) -> String {
    format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "{store_url}"
[directory]
file = "{directory}"
[email]
transport = "file"
dir = "/nonexistent"
from = "Bench College <noreply@bench.example>"
[quiet_hours]
start = "{quiet}"
end = "07:00"
[weekend]
from = "fri 18:00"
until = "mon 07:00"
[grades]
classroom_first = "off"
guardian_delay = "2h"
guardians = "all"
[absences]
settle = "45m"
guardians = {{ unauthorized = "immediate", late = "digest", sick = "none" }}
[digest]
students = "immediate"
guardians = "{slot}"
max_per_day = 3
[schools.{SCHOOL}]
name = "Bench College"
[schools.probe]
name = "Probe School"
"#
    )
}

/// `n` events of `students` students over the 14 days before `now`, by time: grades (85 %)
/// and absences, mostly in school hours, some in the evening.
fn events(n: usize, students: usize, now: DateTime<Utc>) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(14);
    let span = Duration::days(14).num_seconds() as u64;
    let mut times: Vec<DateTime<Utc>> = (0..n)
        .map(|_| now - Duration::days(14) + Duration::seconds(rng.u64(0..span) as i64))
        .collect();
    times.sort();
    times
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let at = t.with_timezone(&ZONE).to_rfc3339_opts(SecondsFormat::Secs, false);
            let student = rng.usize(0..students);
            let mut line = String::new();
            if rng.u8(0..100) < 85 {
                let _ = write!(
                    line,
                    r#"{{"id":"w-{i}","type":"grade.entered","school":"{SCHOOL}","occurred_at":"{at}","record":"rg-{i}","student":"s-{student}","grade":{{"assessment":"a-{i}","subject":"wiskunde","class":"1a","description":"Toets","value":"6,5","kind":"test"}}}}"#
                );
            } else {
                let _ = write!(
                    line,
                    r#"{{"id":"w-{i}","type":"absence.registered","school":"{SCHOOL}","occurred_at":"{at}","record":"ra-{i}","student":"s-{student}","absence":{{"kind":"unauthorized","start":"{at}","period":1}}}}"#
                );
            }
            line.into_bytes()
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = arg("--events").map_or(60_000, |v| v.parse().expect("--events N"));
    let students: usize = arg("--students").map_or(2_000, |v| v.parse().expect("--students N"));
    let runs: usize = arg("--runs").map_or(3, |v| v.parse().expect("--runs N"));
    let tmp = tempfile::tempdir().unwrap();
    let url =
        arg("--store").unwrap_or_else(|| format!("sqlite://{}/rustig.db", tmp.path().display()));
    let now = Utc::now();
    let w = workload::generate(1, students, 1, now);
    let dir_path = tmp.path().join("directory.json");
    std::fs::write(&dir_path, &w.directory_json).unwrap();
    let dir_s = dir_path.display().to_string();
    let current = config_text(&url, &dir_s, "20:00", "0 17 * * mon-fri");
    let candidate = config_text(&url, &dir_s, "19:00", "0 18 * * mon-fri");
    let path = tmp.path().join("rustig.toml");
    std::fs::write(&path, &current).unwrap();
    let config = Config::load(&path).unwrap();
    let directory = Directory::parse(w.directory_json.as_bytes()).unwrap();

    let store = rustig::store::open(&url).await.unwrap();
    let shared = Shared::new(config, directory);
    let ingestor = Ingestor::new(store.clone(), shared.clone());
    let t = Instant::now();
    let lines = events(n, students, now);
    let (mut sent, mut batches) = (0usize, 0usize);
    for chunk in lines.chunks(1000) {
        let raws: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let parsed: Vec<_> = raws.iter().map(|r| Event::parse(r)).collect();
        let at = parsed
            .iter()
            .filter_map(|e| e.as_ref().ok().map(Event::occurred_utc))
            .max()
            .unwrap();
        ingestor
            .ingest_parsed(&raws, parsed, "bench", at)
            .await
            .unwrap();
        batches += 1;
        // What was due by then went out.
        loop {
            let claimed = store
                .claim_due(at, at + Duration::minutes(5), 5000)
                .await
                .unwrap();
            if claimed.is_empty() {
                break;
            }
            sent += claimed.len();
            let outcomes: Vec<_> = claimed
                .iter()
                .map(|c| {
                    (
                        vec![c.id],
                        Outcome::Sent {
                            message_key: format!("m-{}", c.id),
                            at,
                        },
                    )
                })
                .collect();
            store.finish(&outcomes).await.unwrap();
        }
    }
    let counts = store.counts().await.unwrap();
    eprintln!(
        "setup: {n} events of {students} students over 14 days in {batches} batches, {sent} notices sent, {} pending, in {:.1?}",
        counts.pending,
        t.elapsed()
    );

    let ctx = rustig::whatif::Ctx {
        store: store.clone(),
        shared: shared.clone(),
        now,
    };
    let mut took = vec![];
    for run in 0..runs {
        let t = Instant::now();
        let report = rustig::whatif::run(&ctx, candidate.as_bytes(), 14)
            .await
            .unwrap();
        let d = t.elapsed();
        took.push(d);
        if run == 0 {
            let p = &report.pending.total;
            let r = &report.replay.diff.total;
            println!(
                "what-if: {} events replayed ({} notices now, {} under the candidate: {} earlier, {} later, {} gone, {} new); buffer {} notices ({} earlier, {} later)",
                report.replay.events,
                report.replay.diff.before,
                report.replay.diff.after,
                r.earlier,
                r.later,
                r.disappear,
                r.appear,
                report.pending.before,
                p.earlier,
                p.later,
            );
        }
    }
    // Where the time goes: the two reads from the store; the rest is planning and replaying.
    let t = Instant::now();
    let records = rustig::whatif::replan::load(&*store).await.unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let events = store
        .whatif()
        .events_between(now - Duration::days(14), now + Duration::days(1))
        .await
        .unwrap();
    let read = t.elapsed();
    println!(
        "of which: {} pending records read in {:.2} s, {} events read in {:.2} s",
        records.len(),
        load.as_secs_f64(),
        events.len(),
        read.as_secs_f64()
    );
    took.sort();
    println!(
        "what-if over 14 days: median {:.2} s, min {:.2} s, max {:.2} s ({runs} runs)",
        took[took.len() / 2].as_secs_f64(),
        took[0].as_secs_f64(),
        took[took.len() - 1].as_secs_f64()
    );
}
