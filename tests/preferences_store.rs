//! The families' choices in the store, the same contract on SQLite and PostgreSQL: a write
//! checks the version (a stale or replayed form changes nothing), lands with its audit entry
//! in one transaction, and the queries a change and the AVG export need.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rustig::model::preference::{Choice, Frequency, StoredChoice};
use rustig::model::{ChannelKind, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::audit::{AuditEntry, AuditFilter};
use rustig::store::preference::Written;
use rustig::store::Store;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn stored(person: &str, role: Role, choice: Choice) -> StoredChoice {
    StoredChoice {
        school: "coornhert".into(),
        person: person.into(),
        role,
        choice,
        links_from: None,
        version: 0,
    }
}

fn audit(t: DateTime<Utc>, person: &str) -> AuditEntry {
    AuditEntry::new(
        t,
        format!("guardian:{person}"),
        "preferences.set",
        format!("guardian:{person}"),
    )
    .change(
        Some(serde_json::json!({})),
        Some(serde_json::json!({"frequency": {"every": "weekly"}})),
    )
}

fn notice(key: &str, record: &str, student: &str, recipient: &str, due: DateTime<Utc>) -> Notice {
    Notice {
        key: key.into(),
        school: "coornhert".into(),
        record: record.into(),
        event_id: format!("e-{record}"),
        student: student.into(),
        recipient: recipient.into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        kind: NoticeKind::Grade,
        due_at: due,
        reasons: vec![Reason::moved(Rule::Entered, due, due, "")],
        release_key: None,
    }
}

async fn suite(store: Arc<dyn Store>) {
    let t0 = at("2026-11-23T10:00:00+01:00");
    let p = store.preferences();
    assert!(p.all_choices().await.unwrap().is_empty());
    assert_eq!(p.choice("coornhert", "g-2001").await.unwrap(), None);

    let weekly = Choice {
        frequency: Some(Frequency::Weekly),
        ..Choice::default()
    };
    // The first write expects version 0.
    let c = stored("g-2001", Role::Guardian, weekly.clone());
    let v1 = match p.set_choice(&c, 0, t0, &audit(t0, "g-2001")).await.unwrap() {
        Written::Stored(v) => v,
        Written::Stale => panic!("first write refused"),
    };
    assert_eq!(v1, t0.timestamp_millis());
    // The same form again (version 0) is stale and changes nothing, nor audits.
    let other = stored("g-2001", Role::Guardian, Choice::default());
    assert_eq!(
        p.set_choice(&other, 0, t0, &audit(t0, "g-2001"))
            .await
            .unwrap(),
        Written::Stale
    );
    let got = p.choice("coornhert", "g-2001").await.unwrap().unwrap();
    assert_eq!(
        (got.choice.clone(), got.version, got.role),
        (weekly.clone(), v1, Role::Guardian)
    );
    // A write in the same millisecond still gets a newer version.
    let mut off = weekly.clone();
    off.channels_off = vec![ChannelKind::Ntfy];
    let mut c2 = stored("g-2001", Role::Guardian, off.clone());
    c2.links_from = Some(t0.timestamp());
    let v2 = match p
        .set_choice(&c2, v1, t0, &audit(t0, "g-2001"))
        .await
        .unwrap()
    {
        Written::Stored(v) => v,
        Written::Stale => panic!("second write refused"),
    };
    assert!(v2 > v1);
    let got = p.choice("coornhert", "g-2001").await.unwrap().unwrap();
    assert_eq!((got.choice, got.links_from), (off, Some(t0.timestamp())));
    // Two audit entries: one per stored write, none for the stale one.
    let trail = store
        .audit()
        .list(
            &AuditFilter {
                target: Some("guardian:g-2001".into()),
                ..AuditFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(trail[0].entry.actor, "guardian:g-2001");
    assert_eq!(trail[0].entry.action, "preferences.set");

    p.set_choice(
        &stored(
            "s-1001",
            Role::Student,
            Choice {
                share_grades: Some(false),
                ..Choice::default()
            },
        ),
        0,
        t0,
        &audit(t0, "s-1001"),
    )
    .await
    .unwrap();
    let all = p.all_choices().await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.person.as_str()).collect::<Vec<_>>(),
        ["g-2001", "s-1001"]
    );
    assert_eq!(all[1].role, Role::Student);

    // Pending records about students, and a person's notices for the export.
    let mut tx = store.begin().await.unwrap();
    tx.replace_pending_of(
        &[
            ("coornhert".into(), "r1".into()),
            ("coornhert".into(), "r2".into()),
            ("coornhert".into(), "r3".into()),
        ],
        &[
            notice("n1", "r1", "s-1001", "g-2001", t0 + Duration::hours(1)),
            notice("n2", "r2", "s-1002", "g-2001", t0 + Duration::hours(2)),
            notice("n3", "r3", "s-1003", "g-2003", t0 + Duration::hours(3)),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let recs = p
        .pending_records_of_students("coornhert", &["s-1001".into(), "s-1002".into()])
        .await
        .unwrap();
    assert_eq!(
        recs,
        vec![
            ("coornhert".to_string(), "r1".to_string()),
            ("coornhert".into(), "r2".into())
        ]
    );
    assert!(p
        .pending_records_of_students("other", &["s-1001".into()])
        .await
        .unwrap()
        .is_empty());
    let mine = p.notices_of_recipient("coornhert", "g-2001").await.unwrap();
    assert_eq!(
        mine.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        ["n1", "n2"]
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", dir.path().display());
    suite(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    suite(rustig::store::open(&pg.url).await.unwrap()).await;
}
