//! The store contract, run against every store implementation (SQLite here; PostgreSQL joins
//! through the same `suite`).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
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
    tx.quarantine("test", "bad", b"{", t0).await.unwrap();
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
