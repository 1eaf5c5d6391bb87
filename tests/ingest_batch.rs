//! Batched ingest (one transaction and a handful of statements per batch) must decide exactly
//! what one-event-at-a-time ingest decides: the same acknowledgements, the same current
//! versions and the same planned notices, whatever the batch boundaries. The sequences mix
//! corrections, stale versions, duplicate ids (also within one batch), withdrawals, classroom
//! releases before and after their grades, and corrections of what was already delivered.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::config::Config;
use rustig::ingest::{Accepted, Ingestor, Shared};
use rustig::model::Directory;
use rustig::store::sqlite::SqliteStore;
use rustig::store::{Outcome, Store};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn grade(id: &str, when: &str, record: &str, student: &str, class: &str, value: &str) -> String {
    let assessment = format!("a-{class}");
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{when}","record":"{record}","student":"{student}","grade":{{"assessment":"{assessment}","subject":"wiskunde","class":"{class}","description":"Toets","value":"{value}","kind":"test"}}}}"#
    )
}

fn released(id: &str, when: &str, class: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"assessment.released","school":"coornhert","occurred_at":"{when}","record":"a-{class}","assessment":"a-{class}","class":"{class}"}}"#
    )
}

fn absence(id: &str, when: &str, record: &str, student: &str, kind: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"absence.registered","school":"coornhert","occurred_at":"{when}","record":"{record}","student":"{student}","absence":{{"kind":"{kind}","start":"{when}","period":1}}}}"#
    )
}

fn withdrawn(id: &str, when: &str, record: &str, student: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.withdrawn","school":"coornhert","occurred_at":"{when}","record":"{record}","student":"{student}"}}"#
    )
}

/// Before anything is delivered.
fn first_part() -> Vec<String> {
    vec![
        grade(
            "g1",
            "2026-11-20T21:14:00+01:00",
            "r-1",
            "s-1001",
            "3c",
            "5,4",
        ),
        absence(
            "a1",
            "2026-11-23T08:40:00+01:00",
            "abs-1",
            "s-1002",
            "unauthorized",
        ),
        // The same id again (a redelivery), then a correction of the absence.
        absence(
            "a1",
            "2026-11-23T08:40:00+01:00",
            "abs-1",
            "s-1002",
            "unauthorized",
        ),
        absence("a2", "2026-11-23T09:05:00+01:00", "abs-1", "s-1002", "sick"),
        absence(
            "a3",
            "2026-11-24T10:02:00+01:00",
            "abs-2",
            "s-1001",
            "unauthorized",
        ),
        grade(
            "g2",
            "2026-11-24T13:00:00+01:00",
            "r-2",
            "s-1002",
            "1a",
            "7,8",
        ),
        // An older version of r-2 arriving late: stored, but stale.
        grade(
            "g2-old",
            "2026-11-24T12:00:00+01:00",
            "r-2",
            "s-1002",
            "1a",
            "6,0",
        ),
        // A release between grades of the same class: before and after it in one batch.
        released("rel-3c", "2026-11-23T11:05:00+01:00", "3c"),
        grade(
            "g3",
            "2026-11-23T12:00:00+01:00",
            "r-3",
            "s-1001",
            "3c",
            "8,0",
        ),
        grade(
            "g4",
            "2026-11-25T14:00:00+01:00",
            "r-4",
            "s-1003",
            "6v",
            "8,1",
        ),
        // Two versions of one record in order, and a withdrawal of another.
        grade(
            "g5",
            "2026-11-25T15:00:00+01:00",
            "r-5",
            "s-1001",
            "3c",
            "4,0",
        ),
        grade(
            "g5b",
            "2026-11-25T15:30:00+01:00",
            "r-5",
            "s-1001",
            "3c",
            "4,5",
        ),
        withdrawn("w4", "2026-11-25T16:00:00+01:00", "r-4", "s-1003"),
        // A student the directory does not know.
        grade(
            "g6",
            "2026-11-25T16:00:00+01:00",
            "r-6",
            "s-9999",
            "3c",
            "9,0",
        ),
    ]
}

/// After the first part was delivered: corrections and withdrawals of delivered records.
fn second_part() -> Vec<String> {
    vec![
        grade(
            "g1b",
            "2026-11-27T09:00:00+01:00",
            "r-1",
            "s-1001",
            "3c",
            "5,8",
        ),
        withdrawn("w3", "2026-11-27T09:10:00+01:00", "r-3", "s-1001"),
        grade(
            "g1",
            "2026-11-20T21:14:00+01:00",
            "r-1",
            "s-1001",
            "3c",
            "5,4",
        ),
        released("rel-1a", "2026-11-27T10:00:00+01:00", "1a"),
        grade(
            "g2b",
            "2026-11-27T11:00:00+01:00",
            "r-2",
            "s-1002",
            "1a",
            "8,2",
        ),
        grade(
            "g7",
            "2026-11-27T11:30:00+01:00",
            "r-7",
            "s-1002",
            "1a",
            "6,6",
        ),
    ]
}

/// What the store holds, without ids (which depend on insertion order): every notice of
/// every event seen, sorted.
type Snapshot = Vec<(
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    usize,
)>;

async fn snapshot(store: &dyn Store, events: &[String]) -> Snapshot {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(e).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        for n in store.notices_of_event(&id).await.unwrap() {
            out.push((
                n.key,
                n.event_id,
                n.recipient,
                n.channel.as_str().to_string(),
                n.kind.as_str().to_string(),
                n.state,
                n.due_at.timestamp_millis(),
                serde_json::to_string(&n.reasons).unwrap(),
                n.attempts as usize,
            ));
        }
    }
    out.sort();
    out
}

/// Ingests the two parts in batches of `size`, delivering everything due in between.
async fn run(store: Arc<dyn Store>, size: usize) -> (Vec<Accepted>, Snapshot) {
    let config = Config::parse(
        Path::new("config/rustig.toml"),
        &std::fs::read_to_string("config/rustig.toml").unwrap(),
    )
    .unwrap();
    let dir = Directory::parse(include_bytes!("../config/directory.example.json")).unwrap();
    let ingestor = Ingestor::new(store.clone(), Shared::new(config, dir));
    let now = at("2026-11-26T12:00:00+01:00");
    let mut results = Vec::new();
    let first = first_part();
    for chunk in first.chunks(size) {
        let raws: Vec<&[u8]> = chunk.iter().map(|s| s.as_bytes()).collect();
        results.extend(ingestor.ingest(&raws, "test", now).await.unwrap());
    }
    // Deliver everything planned so far (a year later, all of it is due).
    let later = now + Duration::days(365);
    loop {
        let claimed = store
            .claim_due(later, later + Duration::minutes(5), 100)
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
                        message_key: format!("m-{}", n.key),
                        at: now + Duration::hours(1),
                    },
                )
            })
            .collect();
        store.finish(&outcomes).await.unwrap();
    }
    let now = now + Duration::days(1);
    let second = second_part();
    for chunk in second.chunks(size) {
        let raws: Vec<&[u8]> = chunk.iter().map(|s| s.as_bytes()).collect();
        results.extend(ingestor.ingest(&raws, "test", now).await.unwrap());
    }
    let all: Vec<String> = first.into_iter().chain(second).collect();
    (results, snapshot(&*store, &all).await)
}

async fn sqlite() -> Arc<dyn Store> {
    Arc::new(SqliteStore::memory().await.unwrap())
}

#[tokio::test]
async fn batches_decide_what_single_events_decide() {
    let (one_by_one, expected) = run(sqlite().await, 1).await;
    // The sequence exercises what it claims to.
    let count = |f: fn(&Accepted) -> bool| one_by_one.iter().filter(|a| f(a)).count();
    assert_eq!(count(|a| matches!(a, Accepted::Duplicate { .. })), 2);
    assert_eq!(count(|a| matches!(a, Accepted::Stale { .. })), 1);
    let kinds: std::collections::BTreeSet<&str> = expected.iter().map(|n| n.4.as_str()).collect();
    assert_eq!(
        kinds,
        ["absence", "correction", "grade", "withdrawal"]
            .into_iter()
            .collect(),
        "{expected:#?}"
    );
    assert!(expected.iter().any(|n| n.5 == "sent"));
    assert!(expected.iter().any(|n| n.5 == "pending"));
    for size in [2, 3, 5, 100] {
        let (results, got) = run(sqlite().await, size).await;
        assert_eq!(results, one_by_one, "acknowledgements, batches of {size}");
        assert_eq!(got, expected, "notices, batches of {size}");
    }
}

#[tokio::test]
async fn postgres_batches_decide_what_single_events_decide() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let (one_by_one, expected) = run(sqlite().await, 1).await;
    let store = rustig::store::open(&pg.url).await.unwrap();
    let (results, got) = run(store, 100).await;
    assert_eq!(results, one_by_one);
    assert_eq!(got, expected);
}

/// Two instances ingesting batches that share records, in opposite orders, at the same time:
/// each batch takes its records' locks in one fixed order, so neither deadlocks (PostgreSQL
/// would abort one of them after `deadlock_timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_overlapping_batches_do_not_deadlock() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let config = Config::parse(
        Path::new("config/rustig.toml"),
        &std::fs::read_to_string("config/rustig.toml").unwrap(),
    )
    .unwrap();
    let dir = Directory::parse(include_bytes!("../config/directory.example.json")).unwrap();
    let instance = |store| {
        Arc::new(Ingestor::new(
            store,
            Shared::new(config.clone(), dir.clone()),
        ))
    };
    let a = instance(rustig::store::open(&pg.url).await.unwrap());
    let b = instance(rustig::store::open(&pg.url).await.unwrap());
    let now = at("2026-11-26T12:00:00+01:00");
    for round in 0..10 {
        let batch = |side: &str| -> Vec<String> {
            (0..300)
                .map(|i| {
                    let when = format!(
                        "2026-11-25T{:02}:{:02}:{:02}+01:00",
                        10 + round,
                        i / 60,
                        i % 60
                    );
                    absence(
                        &format!("{side}-{round}-{i}"),
                        &when,
                        &format!("rec-{i}"),
                        "s-1001",
                        "unauthorized",
                    )
                })
                .collect()
        };
        let forward = batch("a");
        let mut backward = batch("b");
        backward.reverse();
        let run = |ingestor: Arc<Ingestor>, lines: Vec<String>| {
            tokio::spawn(async move {
                let raws: Vec<&[u8]> = lines.iter().map(|s| s.as_bytes()).collect();
                ingestor.ingest(&raws, "test", now).await
            })
        };
        let (x, y) = tokio::join!(run(a.clone(), forward), run(b.clone(), backward));
        let (x, y) = (x.unwrap().expect("a"), y.unwrap().expect("b"));
        assert!(x
            .iter()
            .chain(&y)
            .all(|r| matches!(r, Accepted::New { .. } | Accepted::Stale { .. })));
    }
}
