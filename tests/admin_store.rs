//! The admin views and operator changes (`Store::views`), the same contract on SQLite and
//! PostgreSQL.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::admin::{Changed, NoticeFilter, StateCount};
use rustig::store::retention::{QuarantineItem, QuarantineKind};
use rustig::store::{Current, Outcome, Store};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(id: &str, school: &str, record: &str, student: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"{id}","type":"grade.entered","school":"{school}","occurred_at":"2026-11-23T10:00:00+01:00",
            "record":"{record}","student":"{student}","grade":{{"assessment":"a","subject":"w","class":"3c","value":"7","kind":"test"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn notice(e: &Event, recipient: &str, role: Role, due: DateTime<Utc>) -> Notice {
    Notice {
        key: format!("{}-{recipient}", e.id),
        school: e.school.clone(),
        record: e.record.clone(),
        event_id: e.id.clone(),
        student: e.student().unwrap().into(),
        recipient: recipient.into(),
        role,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Entered, due, due, "")],
        release_key: None,
    }
}

fn count(school: &str, state: &str, count: i64) -> StateCount {
    StateCount {
        school: school.into(),
        state: state.into(),
        count,
    }
}

async fn suite(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    let (e1, e2) = (
        event("e-1", "s", "r1", "st"),
        event("e-2", "t", "r2", "st2"),
    );
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&[&e1, &e2], t0).await.unwrap();
    let cur = Current {
        event_id: "e-1".into(),
        occurred_at: t0,
    };
    tx.set_current("s", "r1", &cur).await.unwrap();
    tx.replace_pending(
        "s",
        "r1",
        &[
            notice(&e1, "g1", Role::Guardian, t0 + h),
            notice(&e1, "st", Role::Student, t0 + h * 2),
        ],
    )
    .await
    .unwrap();
    tx.replace_pending("t", "r2", &[notice(&e2, "st2", Role::Student, t0 + h)])
        .await
        .unwrap();
    let item = |source, reason: &str, raw, keep, at| {
        QuarantineItem::new(
            source,
            QuarantineKind::Rejected,
            reason.into(),
            raw,
            keep,
            at,
        )
    };
    tx.quarantine(&item("http", "grade: missing", b"{x", 4096, t0))
        .await
        .unwrap();
    tx.quarantine(&item("nats x", "not JSON", b"nope", 4096, t0 + h))
        .await
        .unwrap();
    tx.quarantine(&item("http", "long", b"0123456789", 4, t0 + h))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let v = store.views();

    // Keyset pages by id, filters combined.
    let all = v.notices(&NoticeFilter::default(), None, 10).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|r| r.notice.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let first = v.notices(&NoticeFilter::default(), None, 2).await.unwrap();
    let rest = v
        .notices(&NoticeFilter::default(), Some(first[1].notice.id), 2)
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .chain(&rest)
            .map(|r| r.notice.id)
            .collect::<Vec<_>>(),
        ids
    );
    let n = |f: NoticeFilter| {
        let v = store.views();
        async move { v.notices(&f, None, 10).await.unwrap().len() }
    };
    let school = |s: &str| Some(s.to_string());
    assert_eq!(
        n(NoticeFilter {
            school: school("s"),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(NoticeFilter {
            recipient: school("g1"),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(NoticeFilter {
            student: school("st2"),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(NoticeFilter {
            event: school("e-1"),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(NoticeFilter {
            state: school("pending"),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        n(NoticeFilter {
            state: school("dead"),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        n(NoticeFilter {
            role: Some(Role::Student),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(NoticeFilter {
            channel: Some(ChannelKind::Fcm),
            ..Default::default()
        })
        .await,
        0
    );
    let window = NoticeFilter {
        due_from: Some(t0 + h),
        due_until: Some(t0 + h * 2),
        ..Default::default()
    };
    assert_eq!(n(window).await, 2);
    let g1 = v.notice(ids[0]).await.unwrap().unwrap();
    assert_eq!((g1.notice.recipient.as_str(), g1.sent_at), ("g1", None));
    assert!(v.notice(ids[2] + 100).await.unwrap().is_none());

    // Counts, the next release and the oldest pending notice per school.
    assert_eq!(
        v.state_counts().await.unwrap(),
        [count("s", "pending", 2), count("t", "pending", 1)]
    );
    let next = v.next_release("s", t0).await.unwrap().unwrap();
    assert_eq!(next.at, t0 + h);
    assert_eq!(next.holds, [(Role::Guardian, ChannelKind::Email, 1)]);
    let later = v
        .next_release("s", t0 + h + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(later.unwrap().at, t0 + h * 2);
    assert!(v.next_release("s", t0 + h * 3).await.unwrap().is_none());
    assert_eq!(
        v.oldest_pending("s", t0 + h * 3 / 2).await.unwrap(),
        (Some(t0 + h), 1)
    );
    assert_eq!(v.oldest_pending("x", t0).await.unwrap(), (None, 0));

    // Cancel: only a pending notice, once.
    let cancel = Reason::moved(Rule::Cancelled, t0 + h, t0 + h, "");
    match v.cancel_notice(ids[0], cancel.clone()).await.unwrap() {
        Changed::Done(before, after) => {
            assert_eq!(
                (before.notice.state.as_str(), after.notice.state.as_str()),
                ("pending", "cancelled")
            );
            assert_eq!(after.notice.reasons.last(), Some(&cancel));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        v.cancel_notice(ids[0], cancel.clone()).await.unwrap(),
        Changed::Refused(_)
    ));
    assert!(matches!(
        v.cancel_notice(ids[2] + 100, cancel).await.unwrap(),
        Changed::NotFound
    ));
    // Release: due sooner, the reason appended.
    let release = Reason::moved(Rule::Released, t0 + h * 2, t0 + Duration::minutes(10), "");
    match v.release_notice(ids[1], release).await.unwrap() {
        Changed::Done(_, after) => {
            assert_eq!(after.notice.due_at, t0 + Duration::minutes(10));
            assert_eq!(after.notice.state, "pending");
            assert_eq!(after.notice.reasons.last().unwrap().rule, Rule::Released);
        }
        other => panic!("{other:?}"),
    }
    // A cancelled notice is not claimed; the other two are.
    let claimed = store.claim_due(t0 + h, t0 + h * 2, 10).await.unwrap();
    let mut claimed_ids: Vec<i64> = claimed.iter().map(|n| n.id).collect();
    claimed_ids.sort();
    assert_eq!(claimed_ids, [ids[1], ids[2]]);
    store
        .finish(&[
            (
                vec![ids[1]],
                Outcome::Sent {
                    message_key: "m1".into(),
                    at: t0 + h,
                },
            ),
            (
                vec![ids[2]],
                Outcome::Dead {
                    error: "550 no such user".into(),
                },
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        v.state_counts().await.unwrap(),
        [
            count("s", "cancelled", 1),
            count("s", "sent", 1),
            count("t", "dead", 1)
        ]
    );
    let sent = v.notice(ids[1]).await.unwrap().unwrap();
    assert_eq!(sent.sent_at, Some(t0 + h));
    let dead = NoticeFilter {
        state: Some("dead".into()),
        ..Default::default()
    };
    assert_eq!(n(dead.clone()).await, 1);
    // Resend by id: only the dead ones.
    let resent = v.resend_ids(&[ids[0], ids[2]], t0 + h * 2).await.unwrap();
    assert_eq!(resent, [ids[2]]);
    let back = v.notice(ids[2]).await.unwrap().unwrap().notice;
    assert_eq!(
        (back.state.as_str(), back.due_at, back.attempts),
        ("pending", t0 + h * 2, 0)
    );
    assert_eq!(back.reasons.last().unwrap().rule, Rule::Resend);
    assert_eq!(n(dead).await, 0);

    // Events with the one in force for their record.
    let e = v.stored_event("e-1").await.unwrap().unwrap();
    assert_eq!(
        (e.event.id.as_str(), e.current.as_deref(), e.received_at),
        ("e-1", Some("e-1"), t0)
    );
    assert_eq!(v.stored_event("e-2").await.unwrap().unwrap().current, None);
    assert!(v.stored_event("nope").await.unwrap().is_none());

    // Quarantine: listed without the input, one item with it; discarded once.
    assert_eq!(v.quarantine_count().await.unwrap(), 3);
    let page = v.quarantined(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].source.as_str(), page[0].bytes, page[0].raw.as_ref()),
        ("http", 2, None)
    );
    assert_eq!(page[0].kind, "rejected");
    let next = v.quarantined(Some(page[0].id), 10).await.unwrap();
    assert_eq!(next.len(), 2);
    // Only a prefix was kept of the long one: the whole size is known.
    let long = v.quarantine_item(next[1].id).await.unwrap().unwrap();
    assert_eq!(
        (long.bytes, long.raw.as_deref(), long.truncated()),
        (10, Some(&b"0123"[..]), true)
    );
    let item = v.quarantine_item(next[0].id).await.unwrap().unwrap();
    assert_eq!(
        (item.reason.as_str(), item.raw.as_deref()),
        ("not JSON", Some(&b"nope"[..]))
    );
    assert_eq!(item.received_at, t0 + h);
    assert!(v.discard_quarantined(item.id).await.unwrap());
    assert!(!v.discard_quarantined(item.id).await.unwrap());
    assert!(!item.truncated());
    assert!(v.quarantine_item(item.id).await.unwrap().is_none());
    assert_eq!(v.quarantine_count().await.unwrap(), 2);
}

#[tokio::test]
async fn sqlite_admin_views() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    suite(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_admin_views() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    suite(rustig::store::open(&pg.url).await.unwrap()).await;
}
