//! What the retention purge costs and whether release waits for it (`cargo bench --bench
//! retention`; BENCHMARKS.md holds the figures).
//!
//! A SQLite store (WAL, synchronous = FULL, as the daemon runs it) holds `--events` events
//! (default 100 000), each with a delivered notice to a student and one to a guardian, all
//! past `[retention]`; and a backlog of pending notices due now. The purge runs with
//! `--batch` rows per transaction (default 500) while a release loop claims and finishes one
//! group at a time: printed are the purge's time and rate, and the claim latency (median,
//! p99, max) before and during the purge.
//!
//! Options: `--events N`, `--batch N`, `--store postgres://…` (a fresh schema is not made:
//! give an empty database or schema).

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rustig::config::RetentionConfig;
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::{Outcome, Store};

fn arg(name: &str) -> Option<String> {
    let v: Vec<String> = std::env::args().collect();
    v.iter()
        .position(|a| a == name)
        .and_then(|i| v.get(i + 1).cloned())
}

fn event(i: usize) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"e-{i}","type":"grade.entered","school":"s","occurred_at":"2026-11-23T10:00:00+01:00","record":"r-{i}","student":"st-{}","grade":{{"assessment":"a-{i}","subject":"wiskunde","class":"3c","description":"Toets hoofdstuk 3","value":"6,8","kind":"test"}}}}"#,
            i % 2000
        )
        .as_bytes(),
    )
    .unwrap()
}

fn notice(e: &Event, recipient: String, role: Role, due: DateTime<Utc>) -> Notice {
    Notice {
        key: format!("{}-{recipient}", e.id),
        school: "s".into(),
        record: e.record.clone(),
        event_id: e.id.clone(),
        student: "st".into(),
        recipient,
        role,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Entered, due, due, "")],
        release_key: None,
    }
}

/// Stores `n` events from `first` with a student and a guardian notice each, due at `due`.
async fn fill(store: &dyn Store, first: usize, n: usize, due: DateTime<Utc>) {
    for chunk in (first..first + n).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<Event> = chunk.iter().map(|i| event(*i)).collect();
        let refs: Vec<&Event> = events.iter().collect();
        let mut tx = store.begin().await.unwrap();
        tx.insert_events(&refs, due).await.unwrap();
        let mut keys = Vec::new();
        let mut notices = Vec::new();
        for (e, i) in events.iter().zip(chunk) {
            keys.push(("s".to_string(), e.record.clone()));
            notices.push(notice(e, format!("st-{i}"), Role::Student, due));
            notices.push(notice(e, format!("g-{i}"), Role::Guardian, due));
        }
        tx.replace_pending_of(&keys, &notices).await.unwrap();
        tx.commit().await.unwrap();
    }
}

fn stats(mut v: Vec<StdDuration>) -> String {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    format!(
        "{} claims: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        v.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}

/// Claims and finishes one group at a time until `stop`; the claim latencies.
async fn release(
    store: Arc<dyn Store>,
    now: DateTime<Utc>,
    stop: Arc<tokio::sync::Notify>,
) -> Vec<StdDuration> {
    let mut out = Vec::new();
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let t = Instant::now();
        let claimed = tokio::select! {
            c = store.claim_due(now, now + Duration::minutes(5), 1) => c.unwrap(),
            _ = &mut stopped => return out,
        };
        out.push(t.elapsed());
        if claimed.is_empty() {
            return out;
        }
        let ids = claimed.iter().map(|n| n.id).collect();
        store
            .finish(&[(
                ids,
                Outcome::Sent {
                    message_key: "m".into(),
                    at: now,
                },
            )])
            .await
            .unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = arg("--events").map_or(100_000, |v| v.parse().expect("--events N"));
    let batch: u32 = arg("--batch").map_or(500, |v| v.parse().expect("--batch N"));
    let tmp = tempfile::tempdir().unwrap();
    let url =
        arg("--store").unwrap_or_else(|| format!("sqlite://{}/rustig.db", tmp.path().display()));
    let store = rustig::store::open(&url).await.unwrap();
    let t0 = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+01:00")
        .unwrap()
        .with_timezone(&Utc);
    let t = Instant::now();
    fill(&*store, 0, events, t0).await;
    // Delivered, all of them.
    loop {
        let claimed = store
            .claim_due(t0, t0 + Duration::minutes(5), 5000)
            .await
            .unwrap();
        if claimed.is_empty() {
            break;
        }
        let outcomes: Vec<_> = claimed
            .iter()
            .map(|n| {
                (
                    vec![n.id],
                    Outcome::Sent {
                        message_key: format!("m-{}", n.id),
                        at: t0,
                    },
                )
            })
            .collect();
        store.finish(&outcomes).await.unwrap();
    }
    // The backlog the release loop works on while the purge runs.
    let now = t0 + Duration::days(121);
    fill(&*store, events, 20_000, now).await;
    eprintln!(
        "setup: {events} delivered events and 20 000 due ones in {:.0?}",
        t.elapsed()
    );

    let stop = Arc::new(tokio::sync::Notify::new());
    let quiet = tokio::spawn(release(store.clone(), now, stop.clone()));
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    stop.notify_one();
    let before = quiet.await.unwrap();

    let stop = Arc::new(tokio::sync::Notify::new());
    let during = tokio::spawn(release(store.clone(), now, stop.clone()));
    let cfg = RetentionConfig {
        batch,
        ..RetentionConfig::default()
    };
    let t = Instant::now();
    let purged = rustig::retention::purge_once(&*store, &cfg, now)
        .await
        .unwrap();
    let took = t.elapsed();
    stop.notify_one();
    let during = during.await.unwrap();
    println!(
        "purge: {} notices and {} events in {:.1} s ({:.0} rows/s), batch {batch}",
        purged.notices,
        purged.events,
        took.as_secs_f64(),
        (purged.notices + purged.events) as f64 / took.as_secs_f64()
    );
    println!("release before the purge: {}", stats(before));
    println!("release during the purge: {}", stats(during));
}
