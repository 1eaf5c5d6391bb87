//! The store's delivery methods (gone marks, resend of dead letters, fallback notices) on
//! SQLite and PostgreSQL alike.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::reachability::{GoneKey, GoneMark};
use rustig::model::{ChannelKind, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::{Outcome, Store};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn mark(recipient: &str, id: &str, reason: &str) -> GoneMark {
    GoneMark {
        school: "coornhert".into(),
        recipient: recipient.into(),
        channel: ChannelKind::Webpush,
        contact_id: id.into(),
        reason: reason.into(),
        marked_at: at("2026-11-24T10:00:00Z"),
    }
}

fn notice(key: &str, event: &str, due: DateTime<Utc>) -> Notice {
    Notice {
        key: key.into(),
        school: "coornhert".into(),
        record: "r-1".into(),
        event_id: event.into(),
        student: "s-1".into(),
        recipient: "g-1".into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Fallback, due, due, "webpush failed")],
        release_key: None,
    }
}

async fn contract(store: Arc<dyn Store>) {
    // Gone marks: upserted per contact, listed, cleared by key.
    store
        .mark_gone(&[
            mark("g-1", "webpush:aa", "410"),
            mark("g-2", "webpush:bb", "404"),
        ])
        .await
        .unwrap();
    store
        .mark_gone(&[mark("g-1", "webpush:aa", "410 again")])
        .await
        .unwrap();
    let marks = store.gone_contacts().await.unwrap();
    assert_eq!(marks.len(), 2);
    let a = marks.iter().find(|m| m.recipient == "g-1").unwrap();
    assert_eq!(
        (a.reason.as_str(), a.channel),
        ("410 again", ChannelKind::Webpush)
    );
    store
        .clear_gone(&[GoneKey {
            school: "coornhert".into(),
            recipient: "g-2".into(),
            contact_id: "webpush:bb".into(),
        }])
        .await
        .unwrap();
    assert_eq!(store.gone_contacts().await.unwrap().len(), 1);

    // Fallback notices: a key that exists is left alone. (Notices belong to stored events.)
    let t0 = at("2026-11-24T10:00:00Z");
    let mut tx = store.begin().await.unwrap();
    for id in ["e-1", "e-2"] {
        let e = rustig::model::Event::parse(
            format!(
                r#"{{"id":"{id}","type":"grade.withdrawn","school":"coornhert","occurred_at":"2026-11-24T10:00:00Z","record":"r-1","student":"s-1"}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(tx.insert_event(&e, t0).await.unwrap());
    }
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .add_notices(&[notice("k-1", "e-1", t0)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .add_notices(&[notice("k-1", "e-1", t0), notice("k-2", "e-2", t0)])
            .await
            .unwrap(),
        1
    );

    // Dead letters go back to pending, with a fresh count and a resend reason.
    let claimed = store
        .claim_due(t0, t0 + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let ids: Vec<i64> = claimed.iter().map(|n| n.id).collect();
    store
        .finish(&[(
            ids,
            Outcome::Dead {
                error: "webpush: 410".into(),
            },
        )])
        .await
        .unwrap();
    let later = t0 + Duration::hours(3);
    assert_eq!(store.resend_dead(Some("e-none"), later).await.unwrap(), 0);
    assert_eq!(store.resend_dead(Some("e-1"), later).await.unwrap(), 1);
    let n = &store.notices_of_event("e-1").await.unwrap()[0];
    assert_eq!(
        (n.state.as_str(), n.attempts, n.due_at),
        ("pending", 0, later)
    );
    assert_eq!(
        n.last_error.as_deref(),
        Some("webpush: 410"),
        "kept for the record"
    );
    let last = n.reasons.last().unwrap();
    assert_eq!((last.rule, last.from, last.to), (Rule::Resend, t0, later));
    assert_eq!(
        store.notices_of_event("e-2").await.unwrap()[0].state,
        "dead"
    );
    assert_eq!(store.resend_dead(None, later).await.unwrap(), 1);
    assert_eq!(store.counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn sqlite_delivery_methods() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    contract(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_delivery_methods() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    contract(rustig::store::open(&pg.url).await.unwrap()).await;
}
