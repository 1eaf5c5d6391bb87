//! Retention and erasure (issue 11, AVG) on both stores, on a manual clock: delivered and dead
//! notices go after their period into day counts, events lose their personal fields once no
//! notice waits for them (their id still dedupes), quarantine goes after 30 days, the purge
//! works in small batches, and one student's data is erased on request.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::config::RetentionConfig;
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::retention::{purge_once, Purged};
use rustig::store::audit::{AuditEntry, AuditFilter};
use rustig::store::retention::{content_hash, QuarantineItem, QuarantineKind};
use rustig::store::{Outcome, Store};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(id: &str, record: &str, student: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"{id}","type":"grade.entered","school":"s","occurred_at":"2026-11-23T10:00:00+01:00",
            "record":"{record}","student":"{student}","grade":{{"assessment":"a","subject":"w","class":"3c","value":"4,2","kind":"test"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn notice(event: &Event, recipient: &str, due: DateTime<Utc>) -> Notice {
    let student = match &event.body {
        rustig::model::EventBody::GradeEntered { student, .. } => student.clone(),
        _ => unreachable!(),
    };
    Notice {
        key: format!("{}-{recipient}", event.id),
        school: "s".into(),
        record: event.record.clone(),
        event_id: event.id.clone(),
        student,
        recipient: recipient.into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Entered, due, due, "")],
        release_key: None,
    }
}

/// Stores events with one notice each (to `g-<event id>`, due at `due`).
async fn store_events(
    store: &dyn Store,
    events: &[&Event],
    due: DateTime<Utc>,
    received: DateTime<Utc>,
) {
    let mut tx = store.begin().await.unwrap();
    let new = tx.insert_events(events, received).await.unwrap();
    assert!(new.iter().all(|n| *n));
    for e in events {
        let n = notice(e, &format!("g-{}", e.id), due);
        tx.replace_pending("s", &e.record, &[n]).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Claims everything due at `now` and records `outcome` for it.
async fn finish_all(store: &dyn Store, now: DateTime<Utc>, outcome: impl Fn(i64) -> Outcome) {
    let claimed = store
        .claim_due(now, now + Duration::minutes(5), 1000)
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    let outcomes: Vec<(Vec<i64>, Outcome)> = claimed
        .iter()
        .map(|n| (vec![n.id], outcome(n.id)))
        .collect();
    store.finish(&outcomes).await.unwrap();
}

fn quarantined<'a>(raw: &'a [u8], t: DateTime<Utc>) -> QuarantineItem<'a> {
    QuarantineItem::new("test", QuarantineKind::Rejected, "bad".into(), raw, 4096, t)
}

/// Outbox rows (`messages`) in the store at `url`.
async fn messages(url: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM messages";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

async fn retention_suite(url: &str) {
    let store = rustig::store::open(url).await.unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let cfg = RetentionConfig {
        batch: 10,
        ..RetentionConfig::default()
    };
    // 25 delivered (a few batches), 1 dead, and 1 still pending far ahead.
    let sent: Vec<Event> = (0..25)
        .map(|i| event(&format!("e-s{i}"), &format!("r-s{i}"), "st-a"))
        .collect();
    store_events(&*store, &sent.iter().collect::<Vec<_>>(), t0, t0).await;
    finish_all(&*store, t0, |_| Outcome::Sent {
        message_key: "m".into(),
        at: t0,
    })
    .await;
    let dead = event("e-dead", "r-dead", "st-a");
    store_events(&*store, &[&dead], t0 + Duration::hours(1), t0).await;
    finish_all(&*store, t0 + Duration::hours(1), |_| Outcome::Dead {
        error: "gone".into(),
    })
    .await;
    let waiting = event("e-wait", "r-wait", "st-b");
    store_events(&*store, &[&waiting], t0 + Duration::days(300), t0).await;
    store
        .audit()
        .append(&AuditEntry::new(
            t0,
            "cli:test",
            "notices.resend",
            "dead:all",
        ))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.quarantine(&quarantined(b"{old", t0)).await.unwrap();
    tx.quarantine(&quarantined(b"{newer", t0 + Duration::days(100)))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Within every period nothing goes.
    let p = purge_once(&*store, &cfg, t0 + Duration::days(29))
        .await
        .unwrap();
    assert_eq!(p, Purged::default());

    // After 30 days the old quarantined item goes, the newer stays.
    let p = purge_once(&*store, &cfg, t0 + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(p.quarantine, 1);
    assert_eq!(store.retention().quarantine_usage().await.unwrap().items, 1);

    // After 120 days: the delivered and dead notices go (in batches of 10) into the day
    // counts; their events lose the body; the event whose notice waits keeps everything.
    let now = t0 + Duration::days(121);
    let p = purge_once(&*store, &cfg, now).await.unwrap();
    assert_eq!((p.notices, p.events, p.quarantine), (26, 26, 0), "{p:?}");
    let c = store.counts().await.unwrap();
    assert_eq!((c.sent, c.dead, c.pending, c.events), (0, 0, 1, 27));
    assert_eq!(
        messages(url).await,
        0,
        "emptied outbox rows go with their notices"
    );
    let days: Vec<(String, String, i64)> = store
        .retention()
        .notice_days()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.day, d.state, d.notices))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-23".to_string(), "dead".to_string(), 1),
            ("2026-11-23".to_string(), "sent".to_string(), 25),
        ]
    );
    let mut tx = store.begin().await.unwrap();
    assert!(tx.event("e-s0").await.unwrap().is_none(), "purged");
    assert!(tx.event("e-dead").await.unwrap().is_none(), "purged");
    assert_eq!(tx.event("e-wait").await.unwrap().as_ref(), Some(&waiting));
    // The id and hash stay: an identical repeat is still recognised.
    let hashes = tx.event_hashes(&["e-s0".into()]).await.unwrap();
    assert_eq!(hashes["e-s0"], content_hash(&sent[0].to_json()));
    assert!(!tx.insert_event(&sent[0], now).await.unwrap());
    drop(tx);

    // A second run finds nothing more; the pending notice's event is purged once it is sent
    // and its period passed.
    assert_eq!(
        purge_once(&*store, &cfg, now).await.unwrap(),
        Purged::default()
    );
    finish_all(&*store, t0 + Duration::days(300), |_| Outcome::Sent {
        message_key: "m2".into(),
        at: t0 + Duration::days(300),
    })
    .await;
    let p = purge_once(&*store, &cfg, t0 + Duration::days(421))
        .await
        .unwrap();
    assert_eq!((p.notices, p.events, p.quarantine), (1, 1, 1));
}

async fn erasure_suite(url: &str) {
    let store = rustig::store::open(url).await.unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let a1 = event("e-a1", "r-a1", "st-a");
    let a2 = event("e-a2", "r-a2", "st-a");
    let b1 = event("e-b1", "r-b1", "st-b");
    store_events(&*store, &[&a1, &b1], t0, t0).await;
    finish_all(&*store, t0, |_| Outcome::Sent {
        message_key: "m".into(),
        at: t0,
    })
    .await;
    store_events(&*store, &[&a2], t0 + Duration::days(2), t0).await;
    let mut tx = store.begin().await.unwrap();
    tx.set_current(
        "s",
        "r-a1",
        &rustig::store::Current {
            event_id: "e-a1".into(),
            occurred_at: t0,
        },
    )
    .await
    .unwrap();
    tx.quarantine(&quarantined(br#"{"student":"st-a","grade":"x"}"#, t0))
        .await
        .unwrap();
    tx.quarantine(&quarantined(br#"{"student":"st-b"}"#, t0))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let erased = rustig::retention::erase_student(&*store, "st-a", "cli:test", t0)
        .await
        .unwrap();
    assert_eq!(
        (erased.events, erased.notices, erased.quarantine),
        (2, 2, 1),
        "{erased:?}"
    );
    let mut tx = store.begin().await.unwrap();
    assert!(tx.event("e-a1").await.unwrap().is_none());
    assert!(tx.event("e-a2").await.unwrap().is_none());
    assert!(tx.current("s", "r-a1").await.unwrap().is_none());
    assert_eq!(tx.event("e-b1").await.unwrap().as_ref(), Some(&b1));
    drop(tx);
    assert!(store.notices_of_event("e-a2").await.unwrap().is_empty());
    assert_eq!(store.notices_of_event("e-b1").await.unwrap().len(), 1);
    assert_eq!(store.retention().quarantine_usage().await.unwrap().items, 1);
    assert_eq!(messages(url).await, 1, "b1's message stays, a1's went");
    // The delivered one still counts in the figures; nothing is claimable for st-a any more.
    let days = store.retention().notice_days().await.unwrap();
    assert_eq!(days.iter().map(|d| d.notices).sum::<i64>(), 1);
    assert!(store
        .claim_due(t0 + Duration::days(3), t0 + Duration::days(4), 10)
        .await
        .unwrap()
        .is_empty());
    // One audit line says who erased whom and how much, naming no one else.
    let trail = store
        .audit()
        .list(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(trail.len(), 1);
    let e = &trail[0].entry;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.target.as_str()),
        ("cli:test", "student.erase", "student:st-a")
    );
    assert_eq!(e.after.as_ref().unwrap()["events"], 2);
    // Erasing again finds nothing.
    assert_eq!(
        store.retention().erase_student("st-a").await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn sqlite_purges_after_each_period_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    retention_suite(&url).await;
}

#[tokio::test]
async fn sqlite_erases_one_student() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    erasure_suite(&url).await;
}

#[tokio::test]
async fn postgres_purges_after_each_period_in_batches() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    retention_suite(&pg.url).await;
}

#[tokio::test]
async fn postgres_erases_one_student() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    erasure_suite(&pg.url).await;
}

/// The daemon's own purge loop, on a manual clock: what it delivered is gone after
/// `[retention] notices` (counted per day), while it keeps running and delivering.
#[tokio::test]
async fn the_daemon_purges_on_its_own_clock() {
    use std::path::{Path, PathBuf};

    use rustig::clock::{Clock, ManualClock};
    let tmp = tempfile::tempdir().unwrap();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[directory]
file = "{repo}/config/directory.example.json"
[email]
transport = "file"
dir = "{tmp}/outbox"
from = "Coornhert Lyceum <noreply@coornhert.example>"
[digest]
students = "immediate"
guardians = "immediate"
[grades]
classroom_first = "off"
guardian_delay = "0s"
[retention]
notices = "30d"
events = "30d"
interval = "1h"
batch = 10
[schools.coornhert]
name = "Coornhert Lyceum"
"#,
        tmp = tmp.path().display(),
        repo = repo.display()
    );
    let config = rustig::config::Config::parse(Path::new("test.toml"), &text).unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let clock = Arc::new(ManualClock::new(t0));
    let d = rustig::daemon::start(config, clock.clone()).await.unwrap();
    let grades: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"id":"d-{i}","type":"grade.entered","school":"coornhert","occurred_at":"2026-11-23T09:00:00+01:00","record":"r-{i}","student":"s-1001","grade":{{"assessment":"a-{i}","subject":"wiskunde","class":"3c","value":"7,0","kind":"report"}}}}"#
            )
        })
        .collect();
    let raws: Vec<&[u8]> = grades.iter().map(|g| g.as_bytes()).collect();
    d.ingestor.ingest(&raws, "test", t0).await.unwrap();
    let wait = |what: &'static str, cond: Box<dyn Fn(rustig::store::Counts) -> bool>| {
        let store = d.store.clone();
        async move {
            for _ in 0..400 {
                if cond(store.counts().await.unwrap()) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("timed out waiting for {what}: {:?}", store.counts().await);
        }
    };
    // A day on, everything is out.
    for _ in 0..24 {
        clock.advance(Duration::hours(1));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    wait(
        "every notice sent",
        Box::new(|c| c.pending == 0 && c.claimed == 0 && c.sent > 0),
    )
    .await;
    let sent = d.store.counts().await.unwrap().sent;
    // Past 30 days after sending: the purge loop (hourly on this clock) takes them.
    for _ in 0..30 {
        clock.advance(Duration::days(1));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    clock.advance(Duration::hours(2));
    wait("the purge", Box::new(|c| c.sent == 0)).await;
    let days = d.store.retention().notice_days().await.unwrap();
    assert_eq!(days.iter().map(|d| d.notices).sum::<i64>(), sent);
    let mut tx = d.store.begin().await.unwrap();
    assert!(
        tx.event("d-0").await.unwrap().is_none(),
        "the body is purged"
    );
    drop(tx);
    assert!(clock.now() > t0 + Duration::days(30));
    d.shutdown().await;
}
