//! The outbox contract (issue 11), on SQLite and PostgreSQL: a claim fixes each message's
//! notices and key before its first send; a re-claim after a lease ran out, a retry and
//! `resend` keep them; notices due since form a message of their own; only a message that
//! cannot have been sent (deferred in its first claim) is dissolved. Two instances on one
//! database: a take-over after the lease re-sends exactly the dead instance's messages, and
//! concurrent claims put every notice in exactly one message.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::scheduler::message_key;
use rustig::store::{Outcome, Store, StoredNotice};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(record: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"e-{record}","type":"grade.entered","school":"s","occurred_at":"2026-11-23T10:00:00+01:00",
            "record":"{record}","student":"st","grade":{{"assessment":"a","subject":"w","class":"3c","value":"7","kind":"test"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn notice(record: &str, recipient: &str, due: DateTime<Utc>) -> Notice {
    Notice {
        key: format!("n-{record}-{recipient}"),
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
        release_key: None,
    }
}

/// Stores an event for `record` with one notice per recipient, due at `due`.
async fn plan(store: &dyn Store, record: &str, recipients: &[&str], due: DateTime<Utc>) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(&event(record), due).await.unwrap();
    let notices: Vec<Notice> = recipients.iter().map(|r| notice(record, r, due)).collect();
    tx.replace_pending("s", record, &notices).await.unwrap();
    tx.commit().await.unwrap();
}

/// The claimed messages: key → sorted notice keys.
fn messages(claimed: &[StoredNotice]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for n in claimed {
        let key = n
            .message_key
            .clone()
            .expect("every claimed notice is in a message");
        assert!(n.message_id.is_some());
        out.entry(key).or_default().push(n.key.clone());
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn key_of(keys: &[&str]) -> String {
    message_key(keys.iter().copied())
}

fn ids(claimed: &[StoredNotice], keys: &[&str]) -> Vec<i64> {
    claimed
        .iter()
        .filter(|n| keys.contains(&n.key.as_str()))
        .map(|n| n.id)
        .collect()
}

fn sent(key: &str, at: DateTime<Utc>) -> Outcome {
    Outcome::Sent {
        message_key: key.into(),
        at,
    }
}

/// A store in a new SQLite file, and its URL; the file goes with the folder (the first value).
async fn sqlite_store() -> (tempfile::TempDir, String, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    (dir, url, store)
}

/// A connection of its own to the SQLite store at `url`, to read or change rows directly.
async fn sqlite_raw(url: &str) -> sqlx::SqliteConnection {
    <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap()
}

/// A notice's `sent_at` and its own copy of the message key, as stored.
async fn sent_at_and_key(c: &mut sqlx::SqliteConnection, id: i64) -> (Option<i64>, Option<String>) {
    sqlx::query_as("SELECT sent_at, message_key FROM notices WHERE id = ?1")
        .bind(id)
        .fetch_one(c)
        .await
        .unwrap()
}

async fn claim(store: &dyn Store, now: DateTime<Utc>) -> Vec<StoredNotice> {
    store
        .claim_due(now, now + Duration::minutes(5), 10)
        .await
        .unwrap()
}

async fn outbox_contract(store: Arc<dyn Store>) {
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");

    // A claim records the message: its key is made from its notices.
    plan(s, "a", &["g1"], t0).await;
    let first = claim(s, t0).await;
    let k1 = key_of(&["n-a-g1"]);
    assert_eq!(
        messages(&first),
        HashMap::from([(k1.clone(), vec!["n-a-g1".to_string()])])
    );

    // The instance dies with it at the relay; B becomes due for the same recipient. After the
    // lease, A goes again as the same message (same id and key), B in its own.
    plan(s, "b", &["g1"], t0 + Duration::minutes(1)).await;
    let later = t0 + Duration::minutes(6);
    let again = claim(s, later).await;
    let k2 = key_of(&["n-b-g1"]);
    assert_eq!(
        messages(&again),
        HashMap::from([
            (k1.clone(), vec!["n-a-g1".to_string()]),
            (k2.clone(), vec!["n-b-g1".to_string()])
        ])
    );
    let a = again.iter().find(|n| n.key == "n-a-g1").unwrap();
    assert_eq!(a.message_id, first[0].message_id);

    // A fails transiently, B is sent. C becomes due. The retry re-sends A's message as it
    // was; C goes in a new one.
    let retry_at = t0 + Duration::minutes(10);
    s.finish(&[
        (
            ids(&again, &["n-a-g1"]),
            Outcome::Retry {
                error: "451".into(),
                at: retry_at,
            },
        ),
        (ids(&again, &["n-b-g1"]), sent(&k2, later)),
    ])
    .await
    .unwrap();
    plan(s, "c", &["g1"], t0 + Duration::minutes(7)).await;
    let third = claim(s, retry_at).await;
    let k3 = key_of(&["n-c-g1"]);
    assert_eq!(
        messages(&third),
        HashMap::from([
            (k1.clone(), vec!["n-a-g1".to_string()]),
            (k3.clone(), vec!["n-c-g1".to_string()])
        ])
    );

    // C is deferred in its first claim (the daily cap): nothing can have been sent, so its
    // message is dissolved and C bundles with D at the new time.
    let tomorrow = t0 + Duration::days(1);
    let defer = Outcome::Defer {
        reason: Reason::moved(Rule::DailyCap, retry_at, tomorrow, "1 message(s) a day"),
    };
    s.finish(&[
        (ids(&third, &["n-a-g1"]), sent(&k1, retry_at)),
        (ids(&third, &["n-c-g1"]), defer.clone()),
    ])
    .await
    .unwrap();
    let c = &s.notices_of_event("e-c").await.unwrap()[0];
    assert_eq!(
        (c.state.as_str(), c.message_id, c.message_key.as_deref()),
        ("pending", None, None)
    );
    plan(s, "d", &["g1"], tomorrow).await;
    let fourth = claim(s, tomorrow).await;
    let k4 = key_of(&["n-c-g1", "n-d-g1"]);
    assert_eq!(
        messages(&fourth),
        HashMap::from([(k4.clone(), vec!["n-c-g1".to_string(), "n-d-g1".to_string()])])
    );
    // Sent counts per message.
    assert_eq!(
        s.messages_sent_since("s", "g1", ChannelKind::Email, t0)
            .await
            .unwrap(),
        2
    );

    // Taken over after a crash, then deferred: it may have gone out, so it stays together
    // under its key (a later E does not join it).
    let next = tomorrow + Duration::minutes(6);
    let taken = claim(s, next).await;
    assert_eq!(messages(&taken), messages(&fourth));
    let day_after = tomorrow + Duration::days(1);
    let defer = Outcome::Defer {
        reason: Reason::moved(Rule::DailyCap, next, day_after, "1 message(s) a day"),
    };
    s.finish(&[(ids(&taken, &["n-c-g1", "n-d-g1"]), defer)])
        .await
        .unwrap();
    plan(s, "e", &["g1"], day_after).await;
    let fifth = claim(s, day_after).await;
    let k5 = key_of(&["n-e-g1"]);
    assert_eq!(
        messages(&fifth),
        HashMap::from([
            (k4.clone(), vec!["n-c-g1".to_string(), "n-d-g1".to_string()]),
            (k5.clone(), vec!["n-e-g1".to_string()])
        ])
    );

    // A superseded notice leaves its message (back from a transient failure): a withdrawn
    // grade is never sent again; the rest keeps the key.
    let retry_at = day_after + Duration::minutes(1);
    s.finish(&[
        (
            ids(&fifth, &["n-c-g1", "n-d-g1"]),
            Outcome::Retry {
                error: "451".into(),
                at: retry_at,
            },
        ),
        (ids(&fifth, &["n-e-g1"]), sent(&k5, day_after)),
    ])
    .await
    .unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.replace_pending("s", "c", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let sixth = claim(s, retry_at).await;
    assert_eq!(
        messages(&sixth),
        HashMap::from([(k4.clone(), vec!["n-d-g1".to_string()])])
    );

    // Dead, then `resend`: the notices leave the dead message and form a new one.
    s.finish(&[(
        ids(&sixth, &["n-d-g1"]),
        Outcome::Dead {
            error: "550".into(),
        },
    )])
    .await
    .unwrap();
    let resend_at = retry_at + Duration::hours(1);
    assert_eq!(s.resend_dead(Some("e-d"), resend_at).await.unwrap(), 1);
    let d = &s.notices_of_event("e-d").await.unwrap()[0];
    assert_eq!((d.message_id, d.message_key.as_deref()), (None, None));
    let seventh = claim(s, resend_at).await;
    assert_eq!(
        messages(&seventh),
        HashMap::from([(key_of(&["n-d-g1"]), vec!["n-d-g1".to_string()])])
    );
    // Dead and put back again: the same notice alone makes the same key, the same row.
    s.finish(&[(
        ids(&seventh, &["n-d-g1"]),
        Outcome::Dead {
            error: "550".into(),
        },
    )])
    .await
    .unwrap();
    assert_eq!(s.resend_dead(None, resend_at).await.unwrap(), 1);
    let eighth = claim(s, resend_at).await;
    assert_eq!(messages(&eighth), messages(&seventh));
    assert_eq!(eighth[0].message_id, seventh[0].message_id);
}

/// One instance claims a release and dies; a second one (or the restarted first) takes the
/// claims over after the lease: the same messages, by id and key; what became due meanwhile
/// goes separately.
async fn take_over(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    for r in 0..20 {
        plan(
            &*first,
            &format!("r{r}"),
            &[&format!("g{}", r % 7), "all"],
            t0,
        )
        .await;
    }
    let mut claimed = vec![];
    loop {
        let c = claim(&*first, t0).await;
        if c.is_empty() {
            break;
        }
        claimed.extend(c);
    }
    assert_eq!(claimed.len(), 40);
    let before = messages(&claimed);
    assert_eq!(before.len(), 8, "one message per recipient: {before:?}");
    drop(first);
    plan(&*second, "late", &["g1", "all"], t0 + Duration::minutes(1)).await;
    let later = t0 + Duration::minutes(6);
    let mut again = vec![];
    loop {
        let c = claim(&*second, later).await;
        if c.is_empty() {
            break;
        }
        again.extend(c);
    }
    let mut after = messages(&again);
    for r in ["g1", "all"] {
        let late = format!("n-late-{r}");
        assert_eq!(after.remove(&key_of(&[&late])), Some(vec![late]));
    }
    assert_eq!(after, before);
    let ids_before: HashMap<i64, Option<i64>> =
        claimed.iter().map(|n| (n.id, n.message_id)).collect();
    for n in again.iter().filter(|n| n.record != "late") {
        assert_eq!(ids_before[&n.id], n.message_id);
    }
}

#[tokio::test]
async fn sqlite_outbox_contract() {
    let (_dir, _, store) = sqlite_store().await;
    outbox_contract(store).await;
}

#[tokio::test]
async fn postgres_outbox_contract() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    outbox_contract(rustig::store::open(&pg.url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_restart_takes_over_the_same_messages() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let first = rustig::store::open(&url).await.unwrap();
    let second = rustig::store::open(&url).await.unwrap();
    take_over(first, second).await;
}

#[tokio::test]
async fn postgres_second_instance_takes_over_the_same_messages() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let first = rustig::store::open(&pg.url).await.unwrap();
    let second = rustig::store::open(&pg.url).await.unwrap();
    take_over(first, second).await;
}

/// Two instances claiming concurrently, twice (the second round after every lease ran out):
/// every notice in exactly one message, a message never split or changed between rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_claim_disjoint_fixed_messages() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let t0 = at("2026-11-23T10:00:00+01:00");
    let a = rustig::store::open(&pg.url).await.unwrap();
    let b = rustig::store::open(&pg.url).await.unwrap();
    let mut total = 0;
    for r in 0..300 {
        let recipients: Vec<String> = (0..(r % 3 + 1))
            .map(|i| format!("g{}", (r + i) % 50))
            .collect();
        let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
        plan(&*a, &format!("r{r}"), &refs, t0).await;
        total += refs.len();
    }
    let mut rounds: Vec<HashMap<String, Vec<String>>> = vec![];
    for now in [t0, t0 + Duration::minutes(6)] {
        let run = |store: Arc<dyn Store>| async move {
            let mut all = vec![];
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
                    all.extend(c);
                }
            }
            all
        };
        let (ca, cb) = tokio::join!(tokio::spawn(run(a.clone())), tokio::spawn(run(b.clone())));
        let (ca, cb) = (ca.unwrap(), cb.unwrap());
        let mut seen = HashSet::new();
        for n in ca.iter().chain(&cb) {
            assert!(seen.insert(n.id), "notice {} claimed twice", n.key);
        }
        assert_eq!(seen.len(), total);
        let (ma, mb) = (messages(&ca), messages(&cb));
        assert!(
            ma.keys().all(|k| !mb.contains_key(k)),
            "a message split between instances"
        );
        let mut all = ma;
        all.extend(mb);
        let recipients: HashSet<&str> =
            ca.iter().chain(&cb).map(|n| n.recipient.as_str()).collect();
        assert_eq!(all.len(), recipients.len(), "one message per recipient");
        rounds.push(all);
    }
    assert_eq!(
        rounds[0], rounds[1],
        "a take-over keeps every message as it was"
    );
}

/// A message row (recipient ids, a key) lives as long as its notices: purged with them by
/// retention, erased with the student.
async fn messages_go_with_their_notices(store: Arc<dyn Store>) {
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");
    plan(s, "p", &["g1", "g2"], t0).await;
    let claimed = claim(s, t0).await;
    let keys = messages(&claimed);
    let outcomes: Vec<_> = claimed
        .iter()
        .map(|n| (vec![n.id], sent(n.message_key.as_ref().unwrap(), t0)))
        .collect();
    s.finish(&outcomes).await.unwrap();
    plan(s, "q", &["g3"], t0).await;
    assert_eq!(claim(s, t0).await.len(), 1);
    assert_eq!(keys.len(), 2);
    let purged = s
        .retention()
        .purge_notices(t0 + Duration::days(1), 100)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    // The student's claimed notice goes with the erasure, and its message with it.
    s.retention().erase_student("st").await.unwrap();
}

async fn count_messages_sqlite(url: &str) -> i64 {
    let mut c = sqlite_raw(url).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_messages_go_with_their_notices() {
    let (_dir, url, store) = sqlite_store().await;
    messages_go_with_their_notices(store).await;
    assert_eq!(count_messages_sqlite(&url).await, 0);
}

#[tokio::test]
async fn postgres_messages_go_with_their_notices() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    messages_go_with_their_notices(rustig::store::open(&pg.url).await.unwrap()).await;
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    db.close().await;
}

/// On SQLite a message's key is stored once, in the message's row: the claim and the record
/// leave the notices' own copy empty (it made every claimed row grow, BENCHMARKS.md, issue 18,
/// sixteenth round), and the notices read the key from the message. A notice recorded as sent
/// without a message row keeps the key it was sent under.
#[tokio::test]
async fn sqlite_a_message_key_is_stored_once_in_its_message() {
    let (_dir, url, store) = sqlite_store().await;
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");
    let copies = || async {
        let mut c = sqlite_raw(&url).await;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notices WHERE message_key IS NOT NULL")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    plan(s, "p", &["g1"], t0).await;
    plan(s, "r", &["g1"], t0).await;
    plan(s, "u", &["g2"], t0 + Duration::hours(1)).await;

    let claimed = claim(s, t0).await;
    let k = key_of(&["n-p-g1", "n-r-g1"]);
    assert_eq!(
        messages(&claimed),
        HashMap::from([(k.clone(), vec!["n-p-g1".to_string(), "n-r-g1".to_string()])])
    );
    assert_eq!(
        copies().await,
        0,
        "the claim copied the key into its notices"
    );

    let outcomes: Vec<_> = claimed.iter().map(|n| (vec![n.id], sent(&k, t0))).collect();
    s.finish(&outcomes).await.unwrap();
    assert_eq!(
        copies().await,
        0,
        "the record copied the key into its notices"
    );
    for record in ["p", "r"] {
        let n = s.notices_of_event(&format!("e-{record}")).await.unwrap();
        assert_eq!(
            (n[0].state.as_str(), n[0].message_key.as_deref()),
            ("sent", Some(k.as_str()))
        );
    }
    let since = t0 - Duration::hours(1);
    let sent_to = |r: &'static str| s.messages_sent_since("s", r, ChannelKind::Email, since);
    assert_eq!(
        sent_to("g1").await.unwrap(),
        1,
        "one message of two notices"
    );

    // Sent without a claim of this store: no message row, so the notice keeps the key.
    let unclaimed = s.notices_of_event("e-u").await.unwrap();
    s.finish(&[(vec![unclaimed[0].id], sent("direct", t0))])
        .await
        .unwrap();
    let n = s.notices_of_event("e-u").await.unwrap();
    assert_eq!(
        (n[0].state.as_str(), n[0].message_key.as_deref()),
        ("sent", Some("direct"))
    );
    assert_eq!(sent_to("g2").await.unwrap(), 1);
}

/// On SQLite a record takes every kind of outcome in one batch, each notice by its id (one JSON
/// object from ids to values, BENCHMARKS.md, issue 18, twentieth round): a sent notice that its
/// claim linked to a message, a claimed one without a message row (claimed before messages had
/// rows: it keeps the key it was sent under), a retry and a death whose errors hold characters
/// JSON escapes, and a deferral.
#[tokio::test]
async fn sqlite_a_record_takes_every_kind_of_outcome_at_once() {
    let (_dir, url, store) = sqlite_store().await;
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    for (record, recipient) in [
        ("p", "g1"),
        ("q", "g2"),
        ("r", "g3"),
        ("d", "g4"),
        ("f", "g5"),
    ] {
        plan(s, record, &[recipient], t0).await;
    }
    let claimed = claim(s, t0).await;
    assert_eq!(claimed.len(), 5, "{claimed:?}");
    let of = |recipient: &str| claimed.iter().find(|n| n.recipient == recipient).unwrap();
    let mut raw = sqlite_raw(&url).await;
    sqlx::query("UPDATE notices SET message_id = NULL WHERE id = ?1")
        .bind(of("g2").id)
        .execute(&mut raw)
        .await
        .unwrap();

    let linked_key = of("g1").message_key.clone().unwrap();
    let retry = "451 \"later\" – später\n\\ {\"a\":1}";
    let dead = "550 \"no such user\" – gibt's nicht";
    let deferral = Reason::moved(Rule::QuietHours, t0, t0 + h * 2, "until 07:00 \"local\"");
    s.finish(&[
        (vec![of("g1").id], sent(&linked_key, t0)),
        (vec![of("g2").id], sent("direct \"key\"", t0 + h)),
        (
            vec![of("g3").id],
            Outcome::Retry {
                error: retry.into(),
                at: t0 + h * 3,
            },
        ),
        (vec![of("g4").id], Outcome::Dead { error: dead.into() }),
        (
            vec![of("g5").id],
            Outcome::Defer {
                reason: deferral.clone(),
            },
        ),
    ])
    .await
    .unwrap();

    let now = |record: &str| {
        let record = format!("e-{record}");
        async move { s.notices_of_event(&record).await.unwrap().remove(0) }
    };
    let p = now("p").await;
    assert_eq!(
        (p.state.as_str(), p.message_key.as_deref(), p.attempts),
        ("sent", Some(linked_key.as_str()), 1)
    );
    assert_eq!(
        sent_at_and_key(&mut raw, p.id).await,
        (Some(t0.timestamp_millis()), None),
        "the linked notice's key stays in its message's row"
    );
    let q = now("q").await;
    assert_eq!(
        (q.state.as_str(), q.message_key.as_deref(), q.attempts),
        ("sent", Some("direct \"key\""), 1)
    );
    assert_eq!(
        sent_at_and_key(&mut raw, q.id).await,
        (
            Some((t0 + h).timestamp_millis()),
            Some("direct \"key\"".to_string())
        )
    );
    let r = now("r").await;
    assert_eq!(
        (
            r.state.as_str(),
            r.due_at,
            r.last_error.as_deref(),
            r.attempts
        ),
        ("pending", t0 + h * 3, Some(retry), 1)
    );
    let d = now("d").await;
    assert_eq!(
        (d.state.as_str(), d.last_error.as_deref(), d.attempts),
        ("dead", Some(dead), 1)
    );
    let f = now("f").await;
    assert_eq!(
        (f.state.as_str(), f.due_at, f.attempts),
        ("pending", t0 + h * 2, 0)
    );
    assert_eq!(f.reasons.last(), Some(&deferral));
    assert_eq!(f.reasons.len(), 2, "{:?}", f.reasons);
}

/// A claim hands over each notice with the reasons it was stored with, and links the notices
/// of each of its messages to that message's own row (SQLite records a claim's messages in one
/// statement and decodes the reasons after its commit: BENCHMARKS.md, issue 18, nineteenth
/// round).
async fn claimed_notices_carry_their_reasons_and_their_message(store: Arc<dyn Store>) {
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");
    let early = t0 - Duration::hours(14);
    let reasons = vec![
        Reason::moved(Rule::Entered, early, early, ""),
        Reason::moved(Rule::QuietHours, early, t0, "until 07:00 \"local\""),
    ];
    let mut tx = s.begin().await.unwrap();
    for record in ["p", "r", "u"] {
        tx.insert_event(&event(record), t0).await.unwrap();
        let notices: Vec<Notice> = ["g1", "g2", "g3"]
            .iter()
            .map(|r| Notice {
                reasons: reasons.clone(),
                ..notice(record, r, t0)
            })
            .collect();
        tx.replace_pending("s", record, &notices).await.unwrap();
    }
    tx.commit().await.unwrap();

    let claimed = claim(s, t0).await;
    assert_eq!(claimed.len(), 9);
    for n in &claimed {
        assert_eq!(n.reasons, reasons, "{}", n.key);
    }
    let mut by_message: HashMap<i64, HashSet<String>> = HashMap::new();
    for n in &claimed {
        by_message
            .entry(n.message_id.unwrap())
            .or_default()
            .insert(n.key.clone());
    }
    let expected: HashSet<Vec<String>> = ["g1", "g2", "g3"]
        .iter()
        .map(|g| vec![format!("n-p-{g}"), format!("n-r-{g}"), format!("n-u-{g}")])
        .collect();
    let got: HashSet<Vec<String>> = by_message
        .values()
        .map(|keys| {
            let mut keys: Vec<String> = keys.iter().cloned().collect();
            keys.sort();
            keys
        })
        .collect();
    assert_eq!(got, expected, "one message row per recipient");
    for n in &claimed {
        let mut keys: Vec<&str> = claimed
            .iter()
            .filter(|m| m.recipient == n.recipient)
            .map(|m| m.key.as_str())
            .collect();
        keys.sort();
        assert_eq!(n.message_key.as_deref(), Some(key_of(&keys).as_str()));
    }
    // As stored, read back outside the claim: the reasons, and each notice linked to the row
    // of its own message (the key is read from the row the notice links to).
    for record in ["p", "r", "u"] {
        for n in s.notices_of_event(&format!("e-{record}")).await.unwrap() {
            assert_eq!(n.reasons, reasons);
            let claimed = claimed.iter().find(|c| c.id == n.id).unwrap();
            assert_eq!(n.message_id, claimed.message_id);
            assert_eq!(n.message_key, claimed.message_key, "{}", n.key);
        }
    }
}

#[tokio::test]
async fn sqlite_claimed_notices_carry_their_reasons_and_their_message() {
    let (_dir, _, store) = sqlite_store().await;
    claimed_notices_carry_their_reasons_and_their_message(store).await;
}

#[tokio::test]
async fn postgres_claimed_notices_carry_their_reasons_and_their_message() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    claimed_notices_carry_their_reasons_and_their_message(
        rustig::store::open(&pg.url).await.unwrap(),
    )
    .await;
}

/// A notice whose stored reasons cannot be read fails the claim with an error that says so,
/// and every claim after its lease says it again: it is not handed over without its reasons,
/// nor dropped.
#[tokio::test]
async fn sqlite_a_claim_reports_reasons_it_cannot_read() {
    let (_dir, url, store) = sqlite_store().await;
    let s = &*store;
    let t0 = at("2026-11-23T10:00:00+01:00");
    plan(s, "p", &["g1"], t0).await;
    let mut c = sqlite_raw(&url).await;
    sqlx::query("UPDATE notices SET reasons = '[[\"entered\"' WHERE key = 'n-p-g1'")
        .execute(&mut c)
        .await
        .unwrap();
    for now in [t0, t0 + Duration::minutes(6)] {
        let err = s
            .claim_due(now, now + Duration::minutes(5), 10)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("reasons"), "{err}");
    }
}
