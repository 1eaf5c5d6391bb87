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
        channel: "email".into(),
        state: state.into(),
        count,
    }
}

/// The notices per school, channel and state as a plain `COUNT(*) … GROUP BY` over the table
/// computes them, on a connection of the test's own (the store does not expose its pool).
async fn counted(url: &str) -> Vec<StateCount> {
    const SQL: &str = "SELECT school, channel, state, COUNT(*) FROM notices \
                       GROUP BY school, channel, state ORDER BY school, channel, state";
    let rows: Vec<(String, String, String, i64)> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    };
    rows.into_iter()
        .map(|(school, channel, state, count)| StateCount {
            school,
            channel,
            state,
            count,
        })
        .collect()
}

/// The maintained counters (migration 0060) equal the table's own count.
async fn assert_counters(store: &dyn Store, url: &str, after: &str) {
    assert_eq!(
        store.views().state_counts().await.unwrap(),
        counted(url).await,
        "the counters after {after}"
    );
}

async fn suite(store: Arc<dyn Store>, url: &str) {
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
    assert!(!next.more);
    assert_eq!(v.oldest_pending("s").await.unwrap(), Some(t0 + h));
    assert_eq!(v.oldest_pending("x").await.unwrap(), None);
    assert_counters(&*store, url, "the first notices").await;

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
    // Lists by state see claimed notices under `claimed` only (SQLite lists them from the
    // lease index, the others from the index by state, migration 0110).
    let listed = |state: &str| {
        let (v, f) = (
            store.views(),
            NoticeFilter {
                state: Some(state.into()),
                ..Default::default()
            },
        );
        async move {
            let rows = v.notices(&f, None, 10).await.unwrap();
            rows.iter().map(|r| r.notice.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("claimed").await, [ids[1], ids[2]]);
    assert_eq!(listed("cancelled").await, [ids[0]]);
    assert_eq!(listed("pending").await, Vec::<i64>::new());
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
    assert_counters(&*store, url, "cancel, release, claim and finish").await;
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
    assert_counters(&*store, url, "a resend by id").await;

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
    suite(rustig::store::open(&url).await.unwrap(), &url).await;
}

#[tokio::test]
async fn postgres_admin_views() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    suite(rustig::store::open(&pg.url).await.unwrap(), &pg.url).await;
}

fn on(mut n: Notice, channel: ChannelKind) -> Notice {
    n.key = format!("{}-{}", n.key, channel.as_str());
    n.channel = channel;
    n
}

/// Every kind of change a notice goes through, the counters checked against the table after
/// each: planned (one batch, several schools and channels), superseded, cancelled, released
/// now, claimed, sent, retried, deferred, dead, resent (by id and by event), added (the
/// fallback notices), purged and erased.
async fn counters_suite(store: Arc<dyn Store>, url: &str) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    let check = |after: &'static str| {
        let store = store.clone();
        async move { assert_counters(&*store, url, after).await }
    };
    check("the migration (empty)").await;
    let events: Vec<Event> = (0..6)
        .map(|i| {
            let school = ["s", "t"][i % 2];
            event(
                &format!("e-{i}"),
                school,
                &format!("r{i}"),
                &format!("st{i}"),
            )
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&events.iter().collect::<Vec<_>>(), t0)
        .await
        .unwrap();
    for (i, e) in events.iter().enumerate() {
        let st = e.student().unwrap().to_string();
        let channels = [ChannelKind::Email, ChannelKind::Ntfy, ChannelKind::Webpush];
        tx.replace_pending(
            &e.school,
            &e.record,
            &[
                on(notice(e, &st, Role::Student, t0 + h), channels[i % 3]),
                on(
                    notice(e, "g", Role::Guardian, t0 + h * 2),
                    ChannelKind::Email,
                ),
                on(notice(e, "g", Role::Guardian, t0 + h * 2), ChannelKind::Fcm),
            ],
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    check("planning a batch").await;

    // A correction supersedes the pending notices of record r0 with fewer, on other channels.
    let e0b = event("e-0b", "s", "r0", "st0");
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&[&e0b], t0).await.unwrap();
    tx.replace_pending(
        "s",
        "r0",
        &[on(
            notice(&e0b, "st0", Role::Student, t0 + h),
            ChannelKind::Webhook,
        )],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    check("a supersede").await;
    // A withdrawal: no notices left for r1.
    let mut tx = store.begin().await.unwrap();
    tx.replace_pending("t", "r1", &[]).await.unwrap();
    tx.commit().await.unwrap();
    check("a withdrawal").await;

    let v = store.views();
    let pending = |school: &'static str| {
        let v = store.views();
        async move {
            v.notices(
                &NoticeFilter {
                    school: Some(school.into()),
                    state: Some("pending".into()),
                    ..Default::default()
                },
                None,
                100,
            )
            .await
            .unwrap()
        }
    };
    let s_pending = pending("s").await;
    let cancel = Reason::moved(Rule::Cancelled, t0 + h, t0 + h, "");
    assert!(matches!(
        v.cancel_notice(s_pending[0].notice.id, cancel)
            .await
            .unwrap(),
        Changed::Done(..)
    ));
    check("a cancel").await;
    let release = Reason::moved(Rule::Released, t0 + h * 2, t0, "");
    assert!(matches!(
        v.release_notice(s_pending[1].notice.id, release)
            .await
            .unwrap(),
        Changed::Done(..)
    ));
    check("a release now").await;

    let claimed = store.claim_due(t0 + h, t0 + h * 2, 100).await.unwrap();
    assert!(claimed.len() >= 3, "{claimed:?}");
    check("a claim").await;
    let ids = |r: std::ops::Range<usize>| claimed[r].iter().map(|n| n.id).collect::<Vec<_>>();
    let last = claimed.len();
    store
        .finish(&[
            (
                ids(0..1),
                Outcome::Sent {
                    message_key: "m1".into(),
                    at: t0 + h,
                },
            ),
            (
                ids(1..2),
                Outcome::Retry {
                    error: "421 later".into(),
                    at: t0 + h * 3,
                },
            ),
            (
                ids(2..3),
                Outcome::Defer {
                    reason: Reason::moved(Rule::Entered, t0 + h, t0 + h * 4, "cap"),
                },
            ),
            (
                ids(3..last),
                Outcome::Dead {
                    error: "550 no such user".into(),
                },
            ),
        ])
        .await
        .unwrap();
    check("sent, retried, deferred and dead").await;

    let dead: Vec<i64> = ids(3..last);
    if let Some(first) = dead.first() {
        assert_eq!(v.resend_ids(&[*first], t0 + h * 2).await.unwrap(), [*first]);
        check("a resend by id").await;
    }
    store.resend_dead(None, t0 + h * 2).await.unwrap();
    check("a resend of every dead notice").await;
    // The daemon's periodic fold (PostgreSQL's deltas into the totals) changes no count.
    store.views().fold_counts().await.unwrap();
    store.views().fold_counts().await.unwrap();
    check("two folds").await;

    let e5 = &events[5];
    let extra = on(notice(e5, "g", Role::Guardian, t0 + h), ChannelKind::Ntfy);
    assert_eq!(store.add_notices(&[extra]).await.unwrap(), 1);
    check("added notices").await;

    // Everything due goes out; the sent ones are purged; a student is erased.
    let all = store
        .claim_due(t0 + h * 10, t0 + h * 11, 1000)
        .await
        .unwrap();
    let (half, rest) = all.split_at(all.len() / 2);
    store
        .finish(&[
            (
                half.iter().map(|n| n.id).collect(),
                Outcome::Sent {
                    message_key: "m2".into(),
                    at: t0 + h * 10,
                },
            ),
            (
                rest.iter().map(|n| n.id).collect(),
                Outcome::Dead {
                    error: "gone".into(),
                },
            ),
        ])
        .await
        .unwrap();
    check("the whole release").await;
    let purged = store
        .retention()
        .purge_notices(t0 + h * 24 * 400, 3)
        .await
        .unwrap();
    assert!(purged > 0);
    check("a purge").await;
    let erased = store.retention().erase_student("st3").await.unwrap();
    assert!(erased.events > 0);
    check("an erasure").await;
    let purged = store
        .retention()
        .purge_notices(t0 + h * 24 * 400, 1000)
        .await
        .unwrap();
    assert!(purged > 0);
    // Counters that fell to 0 are not reported (the plain count has no such rows either).
    check("the last purge").await;
    let left = store.views().state_counts().await.unwrap();
    assert!(left.iter().all(|c| c.state == "cancelled"), "{left:?}");
}

#[tokio::test]
async fn sqlite_counters_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    counters_suite(rustig::store::open(&url).await.unwrap(), &url).await;
}

#[tokio::test]
async fn postgres_counters_follow_every_change() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    counters_suite(rustig::store::open(&pg.url).await.unwrap(), &pg.url).await;
}

/// A holder whose lease ran out records its send after the claim that took the lease over
/// put the notice back for a retry: the message went, so the notice is sent, and counted so.
async fn stale_holder_suite(store: Arc<dyn Store>, url: &str) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let m = Duration::minutes(1);
    let e = event("e-1", "s", "r1", "st1");
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&[&e], t0).await.unwrap();
    tx.replace_pending("s", "r1", &[notice(&e, "g", Role::Guardian, t0)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let first = store.claim_due(t0, t0 + m, 10).await.unwrap();
    let taken = store.claim_due(t0 + m * 2, t0 + m * 60, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        taken.iter().map(|n| n.id).collect::<Vec<_>>(),
        [first[0].id]
    );
    let id = first[0].id;
    let retry = Outcome::Retry {
        error: "451 later".into(),
        at: t0 + m * 30,
    };
    store.finish(&[(vec![id], retry)]).await.unwrap();
    assert_counters(&*store, url, "the retry of the claim that took over").await;
    let sent = Outcome::Sent {
        message_key: first[0].message_key.clone().unwrap(),
        at: t0 + m,
    };
    store.finish(&[(vec![id], sent)]).await.unwrap();
    assert_counters(&*store, url, "the late record of the first holder").await;
    let row = store.views().notice(id).await.unwrap().unwrap();
    assert_eq!(
        (row.notice.state.as_str(), row.sent_at),
        ("sent", Some(t0 + m))
    );
    assert_eq!(
        store.views().state_counts().await.unwrap(),
        [count("s", "sent", 1)]
    );
}

#[tokio::test]
async fn sqlite_stale_holder_records_its_send() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    stale_holder_suite(rustig::store::open(&url).await.unwrap(), &url).await;
}

#[tokio::test]
async fn postgres_stale_holder_records_its_send() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    stale_holder_suite(rustig::store::open(&pg.url).await.unwrap(), &pg.url).await;
}

/// One change to the buffer, for the property below.
#[derive(Debug, Clone)]
enum Op {
    /// (Re)plan record `r` of school `s`: its pending notices replaced by `n` on `channels`.
    Plan {
        s: usize,
        r: usize,
        n: usize,
        channels: Vec<usize>,
    },
    Cancel(usize),
    Release(usize),
    /// Claim what is due by hour `h` with a lease of an hour, and leave it claimed: a later
    /// claim takes the lease over (no new count) and finishes it.
    Claim(i64),
    /// Claim what is due by hour `h`, then finish the claim with outcome `o` for each.
    ClaimFinish {
        h: i64,
        o: Vec<usize>,
    },
    /// Finish notices by id with outcome `o`, whatever they are now (claimed, finished by
    /// another claim, pending, erased…), as a holder whose lease ran out does.
    FinishAny {
        ids: Vec<i64>,
        o: usize,
    },
    ResendDead,
    /// An operator's resend of these notices (only the dead ones are resent).
    ResendIds(Vec<i64>),
    Purge,
    Erase(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..2usize, 0..4usize, 0..3usize, proptest::collection::vec(0..5usize, 1..3))
            .prop_map(|(s, r, n, channels)| Op::Plan { s, r, n, channels }),
        1 => (0..20usize).prop_map(Op::Cancel),
        1 => (0..20usize).prop_map(Op::Release),
        3 => (0..6i64, proptest::collection::vec(0..4usize, 1..8))
            .prop_map(|(h, o)| Op::ClaimFinish { h, o }),
        2 => (0..6i64).prop_map(Op::Claim),
        1 => (proptest::collection::vec(1..40i64, 1..6), 0..4usize)
            .prop_map(|(ids, o)| Op::FinishAny { ids, o }),
        1 => Just(Op::ResendDead),
        1 => proptest::collection::vec(1..40i64, 1..6).prop_map(Op::ResendIds),
        1 => Just(Op::Purge),
        1 => (0..4usize).prop_map(Op::Erase),
    ]
}

/// Outcome `k` (sent, retry, dead, deferred) of a message of notice `id`.
fn outcome(k: usize, id: i64) -> Outcome {
    let (t0, h) = (at("2026-11-23T10:00:00+01:00"), Duration::hours(1));
    match k {
        0 => Outcome::Sent {
            message_key: format!("m-{id}"),
            at: t0,
        },
        1 => Outcome::Retry {
            error: "later".into(),
            at: t0 + h,
        },
        2 => Outcome::Dead {
            error: "gone".into(),
        },
        _ => Outcome::Defer {
            reason: Reason::moved(Rule::Entered, t0, t0 + h * 2, "cap"),
        },
    }
}

async fn apply(store: &Arc<dyn Store>, op: &Op, version: &mut usize) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    let ids = |state: &'static str| {
        let v = store.views();
        async move {
            v.notices(
                &NoticeFilter {
                    state: Some(state.into()),
                    ..Default::default()
                },
                None,
                1000,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.notice.id)
            .collect::<Vec<_>>()
        }
    };
    match op {
        Op::Plan { s, r, n, channels } => {
            *version += 1;
            let school = ["s", "t"][*s];
            let e = event(
                &format!("e-{version}"),
                school,
                &format!("r{r}"),
                &format!("st{r}"),
            );
            let mut notices = vec![];
            for i in 0..*n {
                for c in channels {
                    let mut x = on(
                        notice(&e, &format!("p{i}"), Role::Guardian, t0 + h * (i as i32)),
                        ChannelKind::ALL[*c],
                    );
                    x.key = format!("{}-{c}", x.key);
                    if !notices.iter().any(|y: &Notice| y.key == x.key) {
                        notices.push(x);
                    }
                }
            }
            let mut tx = store.begin().await.unwrap();
            tx.insert_events(&[&e], t0).await.unwrap();
            tx.replace_pending(school, &e.record, &notices)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Op::Cancel(k) | Op::Release(k) => {
            let pending = ids("pending").await;
            if let Some(id) = pending.get(k % pending.len().max(1)) {
                let reason = Reason::moved(Rule::Cancelled, t0, t0, "");
                let v = store.views();
                let _ = match op {
                    Op::Cancel(_) => v.cancel_notice(*id, reason).await.unwrap(),
                    _ => v.release_notice(*id, reason).await.unwrap(),
                };
            }
        }
        Op::Claim(hours) => {
            let at = t0 + h * (*hours as i32);
            store.claim_due(at, at + h, 100).await.unwrap();
        }
        Op::ClaimFinish { h: hours, o } => {
            let claimed = store
                .claim_due(t0 + h * (*hours as i32), t0 + h * 100, 100)
                .await
                .unwrap();
            let outcomes: Vec<(Vec<i64>, Outcome)> = claimed
                .iter()
                .zip(o.iter().cycle())
                .map(|(n, k)| (vec![n.id], outcome(*k, n.id)))
                .collect();
            store.finish(&outcomes).await.unwrap();
        }
        Op::FinishAny { ids, o } => {
            store
                .finish(&[(ids.clone(), outcome(*o, ids[0]))])
                .await
                .unwrap();
        }
        Op::ResendDead => {
            store.resend_dead(None, t0).await.unwrap();
        }
        Op::ResendIds(ids) => {
            store.views().resend_ids(ids, t0).await.unwrap();
        }
        Op::Purge => {
            store
                .retention()
                .purge_notices(t0 + h * 24 * 400, 5)
                .await
                .unwrap();
        }
        Op::Erase(r) => {
            store
                .retention()
                .erase_student(&format!("st{r}"))
                .await
                .unwrap();
        }
    }
}

#[test]
fn sqlite_counters_equal_the_count_after_any_sequence_of_changes() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cases = std::env::var("COUNTER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    runner
        .run(&proptest::collection::vec(op(), 1..16), |ops| {
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/buffer.db", dir.path().display());
                let store = rustig::store::open(&url).await.unwrap();
                let mut version = 0;
                for (i, op) in ops.iter().enumerate() {
                    apply(&store, op, &mut version).await;
                    assert_counters(&*store, &url, &format!("step {i}: {op:?}")).await;
                }
            });
            Ok(())
        })
        .unwrap();
}

/// The admin list by state takes its rows from an index, claimed notices included, although
/// the index by state keeps none of them (migration 0110): SQLite's plan for the list's
/// statement names `notices_state_id` for every other state and `notices_lease` for `claimed`.
#[tokio::test]
async fn sqlite_lists_by_state_from_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (state, index) in [
        ("pending", "notices_state_id"),
        ("dead", "notices_state_id"),
        ("sent", "notices_state_id"),
        ("claimed", "notices_lease"),
    ] {
        // The list's statement with a state filter, as src/store/sqlite/admin.rs builds it.
        let (from, filter) = match state {
            "claimed" => ("notices INDEXED BY notices_lease", "state = 'claimed'"),
            _ => ("notices", "state <> 'claimed' AND state = ?2"),
        };
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN SELECT * FROM {from} WHERE id > ?1 AND {filter} \
             ORDER BY id LIMIT ?3"
        ))
        .bind(0i64)
        .bind(state)
        .bind(50i64)
        .fetch_all(&pool)
        .await
        .unwrap();
        let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        assert!(plan.iter().any(|p| p.contains(index)), "{state}: {plan:?}");
        assert!(
            !plan.iter().any(|p| p == &"SCAN notices"),
            "{state}: {plan:?}"
        );
    }
    drop(store);
    pool.close().await;
}

/// Status counts the notices a relay fault holds from the few pending notices whose last try
/// failed (migration 0090), not from every pending email notice: SQLite's plan names the
/// partial index for the store's query.
#[tokio::test]
async fn sqlite_relay_held_count_uses_its_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    drop(rustig::store::open(&url).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM notices WHERE state = 'pending' \
         AND last_error IS NOT NULL AND channel = 'email' AND last_error LIKE 'SMTP: x%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
    assert!(
        plan.iter().any(|p| p.contains("notices_relay_held")),
        "{plan:?}"
    );
    pool.close().await;
}
