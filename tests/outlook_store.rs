//! The outlook's reads (`Store::outlook`): a school's pending notices for the week ahead, one
//! hour of them, and the messages it sent in a week, the same on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::{ChannelKind, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::{Outcome, Store};

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

/// A notice due at the end of `rules` (each moving it an hour on from `start`).
fn notice(
    e: &Event,
    recipient: &str,
    role: Role,
    kind: NoticeKind,
    start: DateTime<Utc>,
    rules: &[Rule],
) -> Notice {
    let mut reasons = vec![Reason::moved(Rule::Entered, start, start, "")];
    let mut t = start;
    for rule in rules {
        // A detail that quotes a rule name must not count as that rule.
        reasons.push(Reason::moved(
            *rule,
            t,
            t + Duration::hours(1),
            "\"rule\":\"classroom_release\" in a detail",
        ));
        t += Duration::hours(1);
    }
    Notice {
        key: format!("{}-{recipient}", e.id),
        school: e.school.clone(),
        record: e.record.clone(),
        event_id: e.id.clone(),
        student: e.student().unwrap().into(),
        recipient: recipient.into(),
        role,
        channel: ChannelKind::Email,
        kind,
        due_at: t,
        reasons,
        release_key: None,
    }
}

async fn suite(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    let (e1, e2, e3, e4) = (
        event("e-1", "s", "r1", "st1"),
        event("e-2", "s", "r2", "st2"),
        event("e-3", "s", "r3", "st3"),
        event("e-4", "t", "r4", "st4"),
    );
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&[&e1, &e2, &e3, &e4], t0).await.unwrap();
    use NoticeKind::*;
    use Rule::*;
    tx.replace_pending(
        "s",
        "r1",
        &[
            notice(&e1, "st1", Role::Student, Grade, t0, &[QuietHours]),
            notice(
                &e1,
                "g1",
                Role::Guardian,
                Grade,
                t0,
                &[ClassroomRelease, GuardianDelay],
            ),
        ],
    )
    .await
    .unwrap();
    tx.replace_pending(
        "s",
        "r2",
        &[notice(&e2, "g2", Role::Guardian, Correction, t0, &[])],
    )
    .await
    .unwrap();
    // g1 is also st3's guardian: one digest, two students.
    tx.replace_pending(
        "s",
        "r3",
        &[notice(
            &e3,
            "g1",
            Role::Guardian,
            Grade,
            t0,
            &[NextLesson, DigestSlot],
        )],
    )
    .await
    .unwrap();
    tx.replace_pending(
        "t",
        "r4",
        &[notice(&e4, "st4", Role::Student, Grade, t0, &[])],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let o = store.outlook();
    let items = o.pending_items("s").await.unwrap();
    let seen: Vec<(String, Role, DateTime<Utc>, &str)> = items
        .iter()
        .map(|p| (p.student.clone(), p.role, p.due_at, p.rule.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("st2".into(), Role::Guardian, t0, "entered"),
            ("st1".into(), Role::Student, t0 + h, "quiet_hours"),
            ("st1".into(), Role::Guardian, t0 + h * 2, "guardian_delay"),
            ("st3".into(), Role::Guardian, t0 + h * 2, "digest_slot"),
        ]
    );
    assert!(items.iter().all(|p| p.school == "s" && p.class.is_none()));
    assert_eq!(o.pending_items("t").await.unwrap().len(), 1);
    assert!(o.pending_items("nobody").await.unwrap().is_empty());

    // One hour: [t0 + 1h, t0 + 2h) holds st1's own notice only; pages by id.
    let hour = o
        .pending_between("s", t0 + h, t0 + h * 2, None, 10)
        .await
        .unwrap();
    assert_eq!(hour.len(), 1);
    assert_eq!(hour[0].recipient, "st1");
    assert_eq!(hour[0].reasons.last().unwrap().rule, QuietHours);
    let two = o
        .pending_between("s", t0 + h * 2, t0 + h * 3, None, 1)
        .await
        .unwrap();
    assert_eq!(two.len(), 1);
    let rest = o
        .pending_between("s", t0 + h * 2, t0 + h * 3, Some(two[0].id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].id > two[0].id);

    // Send everything: one message per (school, recipient, channel).
    let claimed = store.claim_due(t0 + h * 3, t0 + h * 4, 100).await.unwrap();
    let mut messages: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for n in &claimed {
        messages
            .entry(n.message_key.clone().unwrap())
            .or_default()
            .push(n.id);
    }
    assert_eq!(messages.len(), 4);
    let outcomes: Vec<(Vec<i64>, Outcome)> = messages
        .iter()
        .map(|(key, ids)| {
            let n = claimed.iter().find(|n| n.id == ids[0]).unwrap();
            // The student's at +3h, the guardians' a day later.
            let at = match n.role {
                Role::Student => t0 + h * 3,
                Role::Guardian => t0 + h * 27,
            };
            (
                ids.clone(),
                Outcome::Sent {
                    message_key: key.clone(),
                    at,
                },
            )
        })
        .collect();
    store.finish(&outcomes).await.unwrap();

    let week = (
        at("2026-11-23T00:00:00+01:00"),
        at("2026-11-30T00:00:00+01:00"),
    );
    let mut ds = o.deliveries("s", week.0, week.1).await.unwrap();
    assert!(ds.windows(2).all(|w| w[0].at <= w[1].at), "by sending time");
    ds.sort_by(|a, b| (a.at, &a.recipient, &a.student).cmp(&(b.at, &b.recipient, &b.student)));
    type Seen<'a> = (
        &'a str,
        &'a str,
        DateTime<Utc>,
        Vec<NoticeKind>,
        Option<bool>,
    );
    let seen: Vec<Seen> = ds
        .iter()
        .map(|d| {
            (
                d.recipient.as_str(),
                d.student.as_str(),
                d.at,
                d.kinds.clone(),
                d.after_discussion,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("st1", "st1", t0 + h * 3, vec![Grade], Some(false)),
            ("g1", "st1", t0 + h * 27, vec![Grade], Some(true)),
            ("g1", "st3", t0 + h * 27, vec![Grade], Some(true)),
            ("g2", "st2", t0 + h * 27, vec![Correction], None),
        ]
    );
    // The digest to g1 is one message: both parts carry its key's instant and channel.
    assert_eq!(ds[1].event_ids, ["e-1"]);
    assert_eq!(ds[2].event_ids, ["e-3"]);
    assert!(ds
        .iter()
        .all(|d| d.school == "s" && d.channel == ChannelKind::Email));
    // Another week, another school: nothing.
    assert!(o
        .deliveries("s", week.1, week.1 + Duration::days(7))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(o.deliveries("t", week.0, week.1).await.unwrap().len(), 1);
    assert!(o.pending_items("s").await.unwrap().is_empty());

    // Past retention the sent notices are purged: the week has nothing left to count.
    store
        .retention()
        .purge_notices(t0 + Duration::days(400), 100)
        .await
        .unwrap();
    assert!(o.deliveries("s", week.0, week.1).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_outlook_reads() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    suite(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_outlook_reads() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    suite(rustig::store::open(&pg.url).await.unwrap()).await;
}

/// The last rule of each of school `s`'s pending notices, as the outlook reads it in SQL.
async fn last_rules(o: &dyn rustig::store::outlook::OutlookQueries) -> Vec<String> {
    o.pending_items("s")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.rule)
        .collect()
}

/// Notices stored before reasons were kept compact (objects with RFC 3339 times) read the
/// same: in `explain`'s chain, the outlook's last rule (also after a step is appended in SQL,
/// which leaves both forms in one row) and the classroom-first test of the week's messages.
/// `rewrite` runs an `UPDATE` with one bound text on the store's own database.
async fn reasons_stored_before<F, Fut>(store: Arc<dyn Store>, rewrite: F)
where
    F: Fn(&'static str, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use NoticeKind::Grade;
    use Rule::*;
    let t0 = at("2026-11-23T10:00:00+01:00");
    let h = Duration::hours(1);
    let e = event("e-old", "s", "r-old", "st1");
    let n = notice(
        &e,
        "g1",
        Role::Guardian,
        Grade,
        t0,
        &[ClassroomRelease, GuardianDelay],
    );
    let mut tx = store.begin().await.unwrap();
    tx.insert_events(&[&e], t0).await.unwrap();
    tx.replace_pending("s", "r-old", std::slice::from_ref(&n))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = serde_json::to_string(&n.reasons).unwrap();
    assert!(before.contains("\"rule\":\"guardian_delay\""), "{before}");
    rewrite("UPDATE notices SET reasons = $1", before).await;

    let o = store.outlook();
    let rules = last_rules(o).await;
    assert_eq!(rules, ["guardian_delay"]);
    let read = o
        .pending_between("s", t0, t0 + h * 9, None, 10)
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].reasons, n.reasons);

    // The daily cap defers it: a compact step after the objects.
    let claimed = store.claim_due(n.due_at, n.due_at + h, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let cap = Reason::moved(DailyCap, n.due_at, n.due_at + h, "max 1 per day");
    store
        .finish(&[(
            vec![claimed[0].id],
            Outcome::Defer {
                reason: cap.clone(),
            },
        )])
        .await
        .unwrap();
    let rules = last_rules(o).await;
    assert_eq!(rules, ["daily_cap"]);
    let mut want = n.reasons.clone();
    want.push(cap);
    let read = o
        .pending_between("s", t0, t0 + h * 9, None, 10)
        .await
        .unwrap();
    assert_eq!(read[0].reasons, want);

    // Sent: the week's message counts as after the lesson (classroom_release, object form).
    let claimed = store
        .claim_due(n.due_at + h, n.due_at + h * 2, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let key = claimed[0].message_key.clone().unwrap();
    store
        .finish(&[(
            vec![claimed[0].id],
            Outcome::Sent {
                message_key: key,
                at: n.due_at + h,
            },
        )])
        .await
        .unwrap();
    let ds = o
        .deliveries("s", t0 - Duration::days(1), t0 + Duration::days(6))
        .await
        .unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].after_discussion, Some(true));
}

#[tokio::test]
async fn sqlite_reads_reasons_stored_before() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    reasons_stored_before(store, |sql, text| {
        let pool = pool.clone();
        async move {
            let n = sqlx::query(&sql.replace('$', "?"))
                .bind(text)
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(n.rows_affected(), 1);
        }
    })
    .await;
    pool.close().await;
}

#[tokio::test]
async fn postgres_reads_reasons_stored_before() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let store = rustig::store::open(&pg.url).await.unwrap();
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    reasons_stored_before(store, |sql, text| {
        let pool = pool.clone();
        async move {
            let n = sqlx::query(sql).bind(text).execute(&pool).await.unwrap();
            assert_eq!(n.rows_affected(), 1);
        }
    })
    .await;
    pool.close().await;
}

/// The week ahead's query uses the index, not a scan of the buffer: SQLite's plan names it.
#[tokio::test]
async fn sqlite_plans_use_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    drop(rustig::store::open(&url).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (sql, index) in [
        (
            "EXPLAIN QUERY PLAN SELECT id FROM notices WHERE school = 's' AND state = 'pending' ORDER BY due_at, id",
            "notices_school_due",
        ),
        (
            "EXPLAIN QUERY PLAN SELECT id FROM notices WHERE school = 's' AND state = 'sent' AND sent_at >= 0 AND sent_at < 10",
            "notices_school_sent",
        ),
    ] {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
    }
    pool.close().await;
}
