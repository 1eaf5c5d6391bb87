//! The store contract, run against every store implementation (SQLite here; PostgreSQL joins
//! through the same `suite`).

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::retention::{QuarantineItem, QuarantineKind, ROW_OVERHEAD};
use rustig::store::{Current, Outcome, Store};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(id: &str, record: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"{id}","type":"grade.entered","school":"s","occurred_at":"2026-11-23T10:00:00+01:00",
            "record":"{record}","student":"st","grade":{{"assessment":"a","subject":"w","class":"3c","value":"7","kind":"test"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn notice(key: &str, record: &str, recipient: &str, due: DateTime<Utc>) -> Notice {
    Notice {
        key: key.into(),
        school: "s".into(),
        record: record.into(),
        event_id: format!("e-{record}"),
        student: "st".into(),
        recipient: recipient.into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Entered, due, due, "")],
        release_key: Some("a\u{1f}3c".into()),
    }
}

async fn suite(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");

    // Events are stored once; a redelivery is reported as such.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_event(&event("e-r1", "r1"), t0).await.unwrap());
    assert!(!tx.insert_event(&event("e-r1", "r1"), t0).await.unwrap());
    assert_eq!(tx.event("e-r1").await.unwrap().unwrap().id, "e-r1");
    let cur = Current {
        event_id: "e-r1".into(),
        occurred_at: t0,
    };
    tx.set_current("s", "r1", &cur).await.unwrap();
    assert_eq!(tx.current("s", "r1").await.unwrap(), Some(cur));
    tx.record_release("s", "k", t0 + Duration::hours(2))
        .await
        .unwrap();
    tx.record_release("s", "k", t0 + Duration::hours(1))
        .await
        .unwrap();
    tx.record_release("s", "k", t0 + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(
        tx.released_at("s", "k").await.unwrap(),
        Some(t0 + Duration::hours(1))
    );
    tx.replace_pending(
        "s",
        "r1",
        &[
            notice("n1", "r1", "g1", t0 + Duration::hours(1)),
            notice("n2", "r1", "g2", t0 + Duration::hours(2)),
        ],
    )
    .await
    .unwrap();
    tx.replace_pending(
        "s",
        "r2",
        &[notice("n3", "r2", "g1", t0 + Duration::hours(1))],
    )
    .await
    .unwrap();
    assert_eq!(
        tx.records_waiting_for("s", "a\u{1f}3c").await.unwrap(),
        vec!["r1", "r2"]
    );
    tx.quarantine(&QuarantineItem::new(
        "test",
        QuarantineKind::Rejected,
        "bad".into(),
        b"{",
        4096,
        t0,
    ))
    .await
    .unwrap();
    assert_eq!(tx.quarantine_bytes().await.unwrap(), 1 + 3 + ROW_OVERHEAD);
    tx.commit().await.unwrap();

    // A dropped transaction leaves nothing behind.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_event(&event("e-gone", "gone"), t0).await.unwrap());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.event("e-gone").await.unwrap().is_none());
    drop(tx);

    let c = store.counts().await.unwrap();
    assert_eq!((c.events, c.pending, c.quarantined), (1, 3, 1));
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0 + Duration::hours(1))
    );

    // Nothing is claimable early; at its time, a whole group (g1: n1 and n3) is claimed.
    assert!(store
        .claim_due(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap()
        .is_empty());
    let now = t0 + Duration::hours(1);
    let claimed = store
        .claim_due(now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    let mut keys: Vec<_> = claimed.iter().map(|n| n.key.as_str()).collect();
    keys.sort();
    assert_eq!(keys, vec!["n1", "n3"]);
    assert!(claimed
        .iter()
        .all(|n| n.recipient == "g1" && n.state == "claimed"));
    assert!(store
        .claim_due(now, now + Duration::minutes(5), 10)
        .await
        .unwrap()
        .is_empty());
    // The lease is the next thing that can happen.
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(now + Duration::minutes(5))
    );

    // A claim whose holder died is taken over after its lease.
    let later = now + Duration::minutes(6);
    let again = store
        .claim_due(later, later + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    let ids: Vec<i64> = again.iter().map(|n| n.id).collect();
    store
        .finish(&[(
            ids,
            Outcome::Sent {
                message_key: "m1".into(),
                at: later,
            },
        )])
        .await
        .unwrap();
    assert_eq!(
        store
            .messages_sent_since("s", "g1", ChannelKind::Email, t0)
            .await
            .unwrap(),
        1
    );

    // Delivered facts feed corrections; replacing pending notices leaves sent ones alone.
    let mut tx = store.begin().await.unwrap();
    let d = tx.delivered("s", "r1").await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].recipient.as_str(), d[0].sent_at), ("g1", later));
    tx.replace_pending(
        "s",
        "r1",
        &[
            notice("n1", "r1", "g1", t0),
            notice("n4", "r1", "g2", t0 + Duration::hours(9)),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!(
        (c.pending, c.sent),
        (1, 2),
        "n2 replaced by n4; n1 stays sent"
    );

    // Retry moves the due time and counts the attempt; dead keeps the error.
    let due = t0 + Duration::hours(9);
    let g2 = store
        .claim_due(due, due + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(g2.len(), 1);
    store
        .finish(&[(
            vec![g2[0].id],
            Outcome::Retry {
                error: "451 try later".into(),
                at: due + Duration::minutes(1),
            },
        )])
        .await
        .unwrap();
    let n = &store.notices_of_event("e-r1").await.unwrap();
    let n4 = n.iter().find(|n| n.key == "n4").unwrap();
    assert_eq!(
        (n4.state.as_str(), n4.attempts, n4.due_at),
        ("pending", 1, due + Duration::minutes(1))
    );
    assert_eq!(n4.last_error.as_deref(), Some("451 try later"));
    let g2 = store
        .claim_due(due + Duration::minutes(1), due + Duration::minutes(6), 10)
        .await
        .unwrap();
    store
        .finish(&[(
            vec![g2[0].id],
            Outcome::Dead {
                error: "550 no such user".into(),
            },
        )])
        .await
        .unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.pending, c.claimed, c.dead), (0, 0, 1));
    assert_eq!(store.next_due().await.unwrap(), None);

    // The directory round-trips.
    store.save_directory("{\"students\":[]}", t0).await.unwrap();
    store
        .save_directory("{\"students\":[],\"timetable\":[]}", t0)
        .await
        .unwrap();
    assert_eq!(
        store.load_directory().await.unwrap().as_deref(),
        Some("{\"students\":[],\"timetable\":[]}")
    );
    // An unchanged directory is not written again; a changed one always is.
    for body in [
        "{\"students\":[]}",
        "{\"students\":[]}",
        "{\"timetable\":[]}",
    ] {
        store.save_directory(body, t0).await.unwrap();
        assert_eq!(store.load_directory().await.unwrap().as_deref(), Some(body));
    }

    batch_forms(&*store, t0).await;
}

/// The batch forms of `Tx` agree with the one-row forms (SQLite overrides them; PostgreSQL
/// uses the defaults). Runs after `suite`: r1 has a sent notice for g1, k was released at
/// t0 + 1h.
async fn batch_forms(store: &dyn Store, t0: DateTime<Utc>) {
    let key = |r: &str| ("s".to_string(), r.to_string());
    let mut tx = store.begin().await.unwrap();
    let (b1, b2) = (event("e-b1", "b1"), event("e-b2", "b2"));
    assert_eq!(
        tx.insert_events(&[&b1, &b2, &b1, &event("e-r1", "r1")], t0)
            .await
            .unwrap(),
        vec![true, true, false, false],
        "new once, the first time; stored before is not new"
    );
    let found = tx
        .events_by_id(&["e-b2".into(), "e-missing".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found["e-b2"], b2);

    let cur = |id: &str, h: i64| Current {
        event_id: id.into(),
        occurred_at: t0 + Duration::hours(h),
    };
    tx.set_currents(&[(key("b1"), cur("e-b1", 1)), (key("b2"), cur("e-b2", 2))])
        .await
        .unwrap();
    tx.set_currents(&[(key("b1"), cur("e-b1", 3))])
        .await
        .unwrap();
    let currents = tx
        .currents(&[key("b1"), key("b2"), key("r1"), key("nope")])
        .await
        .unwrap();
    assert_eq!(currents.len(), 3);
    assert_eq!(
        currents[&key("b1")],
        cur("e-b1", 3),
        "set_currents overwrites"
    );
    assert_eq!(currents[&key("b2")], cur("e-b2", 2));
    assert_eq!(currents[&key("r1")].event_id, "e-r1");
    assert_eq!(tx.current("s", "b1").await.unwrap(), Some(cur("e-b1", 3)));

    let releases = tx.releases(&[key("k"), key("nope")]).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[&key("k")], t0 + Duration::hours(1));

    let delivered = tx.delivered_of(&[key("r1"), key("b1")]).await.unwrap();
    assert_eq!(delivered.len(), 1, "b1 has nothing delivered");
    assert_eq!(
        delivered[&key("r1")],
        tx.delivered("s", "r1").await.unwrap()
    );

    // Replaces b1's pending notices, adds b2's, and leaves r1's sent notice as it is.
    let due = t0 + Duration::hours(20);
    tx.replace_pending("s", "b1", &[notice("nb1-old", "b1", "g2", due)])
        .await
        .unwrap();
    tx.replace_pending_of(
        &[key("b1"), key("b2"), key("r1")],
        &[
            notice("nb1", "b1", "g1", due),
            notice("nb2", "b2", "g1", due),
            notice("n1", "r1", "g1", due),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let keys = |notices: Vec<rustig::store::StoredNotice>| {
        notices
            .into_iter()
            .map(|n| (n.key, n.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.notices_of_event("e-b1").await.unwrap()),
        vec![("nb1".to_string(), "pending".to_string())]
    );
    assert_eq!(
        keys(store.notices_of_event("e-b2").await.unwrap()),
        vec![("nb2".to_string(), "pending".to_string())]
    );
    let r1 = store.notices_of_event("e-r1").await.unwrap();
    assert!(r1
        .iter()
        .any(|n| n.key == "n1" && n.state == "sent" && n.due_at != due));
    // A record listed without notices loses its pending ones.
    let mut tx = store.begin().await.unwrap();
    tx.replace_pending_of(&[key("b1")], &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.notices_of_event("e-b1").await.unwrap().is_empty());
    assert_eq!(store.next_due().await.unwrap(), Some(due));
    let mut tx = store.begin().await.unwrap();
    tx.replace_pending_of(&[key("b2")], &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "nothing left pending"
    );
}

#[tokio::test]
async fn sqlite_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    suite(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/buffer.db", dir.path().display());
    let t0 = at("2026-11-23T10:00:00+01:00");
    {
        let store = rustig::store::open(&url).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_event(&event("e-r1", "r1"), t0).await.unwrap();
        tx.replace_pending("s", "r1", &[notice("n1", "r1", "g1", t0)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let store = rustig::store::open(&url).await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.events, c.pending), (1, 1));
    assert_eq!(store.next_due().await.unwrap(), Some(t0));
}

/// New files get 16 KiB pages (issue 18); a file made with 4 KiB pages keeps them and opens
/// as before, its events and notices intact.
#[tokio::test]
async fn sqlite_new_files_get_16_kib_pages_and_old_ones_keep_theirs() {
    use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let page_size = |path: std::path::PathBuf| async move {
        let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut c)
            .await
            .unwrap();
        size
    };
    let new = dir.path().join("new.db");
    drop(
        rustig::store::open(&format!("sqlite://{}", new.display()))
            .await
            .unwrap(),
    );
    assert_eq!(page_size(new).await, 16384);

    let old = dir.path().join("old.db");
    {
        let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
            .unwrap()
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let url = format!("sqlite://{}", old.display());
    let t0 = at("2026-11-23T10:00:00+01:00");
    {
        let store = rustig::store::open(&url).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_event(&event("e-p1", "p1"), t0).await.unwrap();
        tx.replace_pending("s", "p1", &[notice("n1", "p1", "g1", t0)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let store = rustig::store::open(&url).await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.events, c.pending), (1, 1));
    drop(store);
    assert_eq!(page_size(old).await, 4096);
}

#[tokio::test]
async fn sqlite_store_reports_health() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let h = store.health().await;
    assert_eq!(
        (h.backend, h.connected, h.pending),
        ("sqlite", true, Some(0))
    );
    assert_eq!(h.last_error, None);
}

#[tokio::test]
async fn postgres_store_contract() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let store = rustig::store::open(&pg.url).await.unwrap();
    suite(store.clone()).await;
    let h = store.health().await;
    assert_eq!(
        (h.backend, h.connected, h.pending),
        ("postgres", true, Some(0))
    );
    assert!(h.connections >= 1);
    drop(store);
    // Opening again (a restart, or a second instance) finds the tables and keeps the data.
    let store = rustig::store::open(&pg.url).await.unwrap();
    let c = store.counts().await.unwrap();
    // e-r1 from `suite`, e-b1 and e-b2 from `batch_forms`.
    assert_eq!((c.events, c.sent, c.dead), (3, 2, 1));
}

#[tokio::test]
async fn postgres_store_accepts_the_postgresql_scheme() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let url = pg.url.replacen("postgres://", "postgresql://", 1);
    let store = rustig::store::open(&url).await.unwrap();
    assert_eq!(store.counts().await.unwrap().events, 0);
}

#[tokio::test]
async fn postgres_store_health_reports_errors_and_recovery() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let store = rustig::store::open(&pg.url).await.unwrap();
    assert!(store.health().await.connected);
    // Take its tables away (as a dropped or unreachable database would), then give them back.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.base)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER SCHEMA {} RENAME TO {}_away",
        pg.schema, pg.schema
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    assert!(store.next_due().await.is_err());
    let h = store.health().await;
    assert!(!h.connected, "{h:?}");
    assert_eq!(h.pending, None);
    assert!(h.last_error.is_some() && h.last_error_at.is_some(), "{h:?}");
    sqlx::query(&format!(
        "ALTER SCHEMA {}_away RENAME TO {}",
        pg.schema, pg.schema
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let h = store.health().await;
    assert!(h.connected, "{h:?}");
    assert_eq!(h.pending, Some(0));
    assert!(
        h.last_error.is_some(),
        "the last error is kept for the operator"
    );
}

/// Several instances (stores with pools of their own) claiming the same due notices at the
/// same moment: no notice is ever claimed twice, and a group is never split between claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_claims_never_overlap() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let t0 = at("2026-11-23T10:00:00+01:00");
    let first = rustig::store::open(&pg.url).await.unwrap();
    // 400 recipients, one to three notices each, all due at once.
    let mut tx = first.begin().await.unwrap();
    let mut total = 0;
    for r in 0..400 {
        let record = format!("r{r}");
        let notices: Vec<Notice> = (0..(r % 3 + 1))
            .map(|i| {
                let mut n = notice(&format!("k{r}-{i}"), &record, &format!("g{r}"), t0);
                n.due_at = t0 - Duration::seconds(i as i64);
                n
            })
            .collect();
        total += notices.len();
        tx.replace_pending("s", &record, &notices).await.unwrap();
    }
    tx.commit().await.unwrap();

    let round = |now: DateTime<Utc>| {
        let url = pg.url.clone();
        async move {
            let mut stores = vec![];
            for _ in 0..4 {
                stores.push(rustig::store::open(&url).await.unwrap());
            }
            let barrier = Arc::new(tokio::sync::Barrier::new(8));
            let mut tasks = vec![];
            for i in 0..8 {
                let store = stores[i % 4].clone();
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let mut claims = vec![];
                    // Others may hold every candidate group for a moment: look twice.
                    let mut empty = 0;
                    while empty < 2 {
                        let c = store
                            .claim_due(now, now + Duration::minutes(5), 3)
                            .await
                            .unwrap();
                        if c.is_empty() {
                            empty += 1;
                        } else {
                            empty = 0;
                            claims.push(c);
                        }
                    }
                    claims
                }));
            }
            let mut claims = vec![];
            for t in tasks {
                claims.extend(t.await.unwrap());
            }
            claims
        }
    };

    for now in [t0, t0 + Duration::minutes(6)] {
        // The second round takes over every claim after its lease, again exactly once.
        let claims = round(now).await;
        let mut seen = std::collections::HashMap::new();
        let mut group_of = std::collections::HashMap::new();
        for (i, claim) in claims.iter().enumerate() {
            assert!(claim.len() <= 3 * 3, "at most 3 groups per claim");
            for n in claim {
                assert_eq!(n.state, "claimed");
                assert!(
                    seen.insert(n.id, i).is_none(),
                    "notice {} claimed twice",
                    n.key
                );
                let prev = group_of.insert(n.recipient.clone(), i);
                assert!(
                    prev.is_none_or(|p| p == i),
                    "group {} split between claims",
                    n.recipient
                );
            }
        }
        assert_eq!(seen.len(), total, "every due notice claimed");
        let c = first.counts().await.unwrap();
        assert_eq!((c.pending, c.claimed), (0, total as i64));
    }
}

/// Two instances ingesting for the same record: the second waits for the first to commit,
/// so it reads the record's current version and pending notices after the first's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ingest_serializes_per_record() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let t0 = at("2026-11-23T10:00:00+01:00");
    let a = rustig::store::open(&pg.url).await.unwrap();
    let b = rustig::store::open(&pg.url).await.unwrap();
    let mut tx1 = a.begin().await.unwrap();
    assert_eq!(tx1.current("s", "r1").await.unwrap(), None);
    let second = tokio::spawn(async move {
        let mut tx2 = b.begin().await.unwrap();
        let cur = tx2.current("s", "r1").await.unwrap();
        tx2.replace_pending("s", "r1", &[notice("n-b", "r1", "g1", t0)])
            .await
            .unwrap();
        tx2.commit().await.unwrap();
        cur
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second ingest must wait for the record"
    );
    let cur = Current {
        event_id: "e-a".into(),
        occurred_at: t0,
    };
    tx1.set_current("s", "r1", &cur).await.unwrap();
    tx1.replace_pending("s", "r1", &[notice("n-a", "r1", "g1", t0)])
        .await
        .unwrap();
    tx1.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), Some(cur));
    // The second replaced the first's pending notice instead of adding to it.
    let c = a.counts().await.unwrap();
    assert_eq!(c.pending, 1);
    // A different record is not held up.
    let mut tx1 = a.begin().await.unwrap();
    tx1.current("s", "r1").await.unwrap();
    let mut tx3 = a.begin().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), tx3.current("s", "r2"))
        .await
        .expect("another record is not blocked")
        .unwrap();
}

/// A recipient's due notices go out as one message however they arrived: planned in separate
/// batches, due at different instants, some of them already taken into the claim's grouping
/// by an earlier claim (SQLite stages new notices and groups them only when due, issue 18).
async fn bundles_what_arrived_apart(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let batch = |record: &'static str, recipient: &'static str, due: DateTime<Utc>| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_event(&event(&format!("e-{record}"), record), t0)
                .await
                .unwrap();
            tx.replace_pending("s", record, &[notice(record, record, recipient, due)])
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    batch("a1", "g1", t0).await;
    batch("b1", "g2", t0).await;
    // At t0 only g1's and g2's first notices are due: two messages.
    let claimed = store
        .claim_due(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap();
    let mut got: Vec<&str> = claimed.iter().map(|n| n.key.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, ["a1", "b1"]);
    let sent_at = t0 + Duration::seconds(1);
    let outcomes: Vec<(Vec<i64>, Outcome)> = claimed
        .iter()
        .map(|n| {
            (
                vec![n.id],
                Outcome::Sent {
                    message_key: n.message_key.clone().unwrap(),
                    at: sent_at,
                },
            )
        })
        .collect();
    store.finish(&outcomes).await.unwrap();
    // Later batches for g1, due at three instants, one of them in the future; one for g2.
    batch("a2", "g1", t0 + Duration::minutes(10)).await;
    batch("b2", "g2", t0 + Duration::minutes(20)).await;
    batch("a3", "g1", t0 + Duration::minutes(30)).await;
    batch("a4", "g1", t0 + Duration::hours(5)).await;
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0 + Duration::minutes(10)),
        "the earliest staged notice is the next due instant"
    );
    // A claim at +15 min takes a2 alone (b2 and a3 are not due yet) …
    let now = t0 + Duration::minutes(15);
    let claimed = store
        .claim_due(now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        ["a2"]
    );
    // … whose lease runs out unsent. At +40 min g1's due notices (a2 again, a3) are one group
    // and g2's (b2) another; a4 is not due.
    let now = t0 + Duration::minutes(40);
    let claimed = store
        .claim_due(now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for n in &claimed {
        match groups.iter_mut().find(|(r, _)| *r == n.recipient) {
            Some((_, keys)) => keys.push(n.key.clone()),
            None => groups.push((n.recipient.clone(), vec![n.key.clone()])),
        }
    }
    for (_, keys) in &mut groups {
        keys.sort_unstable();
    }
    groups.sort_unstable();
    assert_eq!(
        groups,
        [
            ("g1".to_string(), vec!["a2".to_string(), "a3".to_string()]),
            ("g2".to_string(), vec!["b2".to_string()]),
        ]
    );
    assert!(claimed.iter().all(|n| n.state == "claimed"));
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0 + Duration::minutes(45)),
        "the lease's end comes before a4"
    );
}

#[tokio::test]
async fn sqlite_bundles_what_arrived_apart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    bundles_what_arrived_apart(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_bundles_what_arrived_apart() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    bundles_what_arrived_apart(rustig::store::open(&pg.url).await.unwrap()).await;
}

/// One event and one notice per `(recipient, due)`, in this order, each in its own batch:
/// record (and notice key) `r{i}` for the i-th.
async fn arrive(store: &dyn Store, t0: DateTime<Utc>, arrivals: &[(&str, DateTime<Utc>)]) {
    for (i, (recipient, due)) in arrivals.iter().enumerate() {
        let record = format!("r{i}");
        let mut tx = store.begin().await.unwrap();
        tx.insert_event(&event(&format!("e-{record}"), &record), t0)
            .await
            .unwrap();
        tx.replace_pending("s", &record, &[notice(&record, &record, recipient, *due)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// Groups due at the same instant are claimed in the order their first notice arrived: the
/// recipient who has waited longest goes first, whatever their name, and a round's notices lie
/// together in the store (issue 18). A group's later notices go with it.
async fn claims_groups_in_arrival_order(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    // g5 arrives first and g1 last; g4 gets a second notice after everyone.
    let arrivals = ["g5", "g4", "g3", "g2", "g1", "g4"];
    arrive(&*store, t0, &arrivals.map(|r| (r, t0))).await;
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let claimed = store
            .claim_due(t0, t0 + Duration::minutes(5), 2)
            .await
            .unwrap();
        let mut round: Vec<(String, String)> = claimed
            .iter()
            .map(|n| (n.recipient.clone(), n.key.clone()))
            .collect();
        round.sort_unstable();
        rounds.push(round);
    }
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(r, k)| (r.to_string(), k.to_string()))
            .collect()
    };
    assert_eq!(
        rounds,
        [
            pairs(&[("g4", "r1"), ("g4", "r5"), ("g5", "r0")]),
            pairs(&[("g2", "r3"), ("g3", "r2")]),
            pairs(&[("g1", "r4")]),
        ]
    );
}

#[tokio::test]
async fn sqlite_claims_groups_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    claims_groups_in_arrival_order(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_claims_groups_in_arrival_order() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    claims_groups_in_arrival_order(rustig::store::open(&pg.url).await.unwrap()).await;
}

/// On SQLite a round also takes the due groups whose rows lie just after its own, up to an
/// eighth of the batch: their pages are written anyway (issue 18).
#[tokio::test]
async fn sqlite_a_claim_fills_the_gaps_between_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    // In arrival order: a first notice for each of a1 … a8, then their second notices with x
    // after a1's and z after a3's, then one for w that is not due yet, then y's.
    let mut arrivals: Vec<(&str, DateTime<Utc>)> = Vec::new();
    let a = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"];
    arrivals.extend(a.iter().map(|r| (*r, t0)));
    for r in a {
        arrivals.push((r, t0));
        match r {
            "a1" => arrivals.push(("x", t0)),
            "a3" => arrivals.push(("z", t0)),
            _ => {}
        }
    }
    arrivals.push(("w", t0 + Duration::hours(1)));
    arrivals.push(("y", t0));
    arrive(&*store, t0, &arrivals).await;
    let groups = |claimed: &[rustig::store::StoredNotice]| {
        let mut g: Vec<String> = claimed.iter().map(|n| n.recipient.clone()).collect();
        g.sort_unstable();
        g.dedup();
        g
    };
    let first = store
        .claim_due(t0, t0 + Duration::minutes(5), 8)
        .await
        .unwrap();
    assert_eq!(first.len(), 17, "a1 … a8 twice, and one gap");
    let first = groups(&first);
    let filled: Vec<&String> = first.iter().filter(|g| !a.contains(&g.as_str())).collect();
    assert_eq!(first.len(), 9, "{first:?}");
    assert!(filled == ["x"] || filled == ["z"], "{first:?}");
    // The other gap and y (not next to a claimed row) come in the next round; w is not due.
    let second = store
        .claim_due(t0, t0 + Duration::minutes(5), 8)
        .await
        .unwrap();
    let other = if filled == ["x"] { "z" } else { "x" };
    let mut want = vec![other.to_string(), "y".to_string()];
    want.sort_unstable();
    assert_eq!(groups(&second), want);
}

/// Ingest keeps no recipient-keyed index entry for a pending notice (issue 18): the claim
/// groups a notice only once it is due, and the grouping index holds due notices only.
#[tokio::test]
async fn sqlite_groups_notices_only_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let (store, pool) = staged_pair(dir.path(), t0).await;
    assert!(grouped(&pool).await.is_empty());
    // A claim that finds nothing due groups nothing; one at n1's time groups n1 only.
    let early = t0 - Duration::minutes(1);
    assert!(store
        .claim_due(early, early + Duration::minutes(5), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(grouped(&pool).await.is_empty());
    let claimed = store
        .claim_due(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // n1 left the index when claimed; n2 is not due, so not grouped.
    assert!(grouped(&pool).await.is_empty());
    let staged: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM notices INDEXED BY notices_staged WHERE state = 'pending' AND grouped = 0",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(staged, ["n2"]);
    pool.close().await;
}

/// SQLite with n1 due at `t0` and n2 an hour later, both staged, and a second connection to
/// look into its indexes.
async fn staged_pair(
    dir: &std::path::Path,
    t0: DateTime<Utc>,
) -> (Arc<dyn Store>, sqlx::SqlitePool) {
    let url = format!("sqlite://{}/buffer.db", dir.display());
    let store = rustig::store::open(&url).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(&event("e-r1", "r1"), t0).await.unwrap();
    tx.replace_pending(
        "s",
        "r1",
        &[
            notice("n1", "r1", "g1", t0),
            notice("n2", "r1", "g2", t0 + Duration::hours(1)),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    (store, pool)
}

/// The keys in the recipient-keyed index the claim bundles by.
async fn grouped(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT key FROM notices INDEXED BY notices_group \
         WHERE state = 'pending' AND grouped = 1 ORDER BY key",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Readying notices ahead of their release (issue 18) groups those due by then, and no
/// other; a readied notice is still claimed only once it is due, bundled as before.
#[tokio::test]
async fn sqlite_readies_notices_ahead_of_their_release() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let (store, pool) = staged_pair(dir.path(), t0).await;
    assert_eq!(
        store.prepare_due(t0 - Duration::minutes(1)).await.unwrap(),
        0
    );
    assert!(grouped(&pool).await.is_empty());
    assert_eq!(store.prepare_due(t0).await.unwrap(), 1);
    assert_eq!(grouped(&pool).await, ["n1"]);
    assert_eq!(store.prepare_due(t0).await.unwrap(), 0, "readied once");
    assert_eq!(store.next_due().await.unwrap(), Some(t0));
    let early = t0 - Duration::seconds(30);
    assert!(store
        .claim_due(early, early + Duration::minutes(5), 10)
        .await
        .unwrap()
        .is_empty());
    let claimed = store
        .claim_due(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        ["n1"]
    );
}

/// The release loop wakes a minute before a release to ready its notices, so the claim at
/// the due instant does not first merge a night's backlog; a release further off waits.
#[tokio::test]
async fn sqlite_release_loop_readies_a_release_a_minute_ahead() {
    use rustig::clock::ManualClock;
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-23T10:00:00+01:00");
    let (store, pool) = staged_pair(dir.path(), t0).await;
    let config = rustig::config::Config::parse(
        std::path::Path::new("t.toml"),
        "timezone = \"Europe/Amsterdam\"\n[schools.s]\nname = \"S\"\n",
    )
    .unwrap();
    let directory =
        rustig::model::Directory::parse(include_bytes!("../config/directory.example.json"))
            .unwrap();
    let clock = Arc::new(ManualClock::new(t0 - Duration::hours(2)));
    let dispatcher = Arc::new(rustig::scheduler::Dispatcher::new(
        store.clone(),
        rustig::ingest::Shared::new(config, directory),
        rustig::send::Channels::default(),
        Arc::new(rustig::render::Renderer::builtin()),
        clock.clone(),
    ));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let d = dispatcher.clone();
        async move { d.run(stop_rx).await }
    });
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(300));
    settle().await;
    assert!(
        grouped(&pool).await.is_empty(),
        "two hours ahead: nothing readied"
    );
    clock.set(t0 - Duration::seconds(45));
    let mut readied = Vec::new();
    for _ in 0..50 {
        readied = grouped(&pool).await;
        if !readied.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(readied, ["n1"], "n2, an hour later, stays staged");
    settle().await;
    assert_eq!(grouped(&pool).await, ["n1"], "not claimed before it is due");
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// What a commit leaves in the WAL is copied into the database file beside the writer, long
/// before the WAL reaches the size at which a commit would copy it (32 MiB), and with no
/// further commit.
#[tokio::test]
async fn sqlite_copies_the_wal_back_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let file = dir.path().join("buffer.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    // Whatever the migrations left in the WAL is copied first.
    let mut before = size();
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = size();
        if now == before {
            break;
        }
        before = now;
    }
    let t0 = at("2026-11-23T10:00:00+01:00");
    let notices: Vec<Notice> = (0..3000)
        .map(|i| notice(&format!("n{i}"), "r1", &format!("g{i}"), t0))
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(&event("e-r1", "r1"), t0).await.unwrap();
    tx.replace_pending("s", "r1", &notices).await.unwrap();
    tx.commit().await.unwrap();
    let wal = std::fs::metadata(dir.path().join("buffer.db-wal"))
        .unwrap()
        .len();
    assert!(wal > 100_000 && wal < 32 << 20, "WAL of {wal} bytes");
    let mut grown = false;
    for _ in 0..40 {
        if size() > before + 100_000 {
            grown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        grown,
        "the database file stayed at {} bytes (before: {before}) with {wal} bytes of WAL",
        size()
    );
    drop(store);
}
