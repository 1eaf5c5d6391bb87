//! The release loop on a manual clock with a scripted channel: retries with backoff,
//! `Retry-After`, dead letters, the daily cap, and grouping into one message.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use common::release::{at, Release};
use rustig::clock::Clock;
use rustig::config::Config;
use rustig::model::{ChannelKind, Directory};
use rustig::policy::Rule;
use rustig::scheduler::SentMessage;
use rustig::send::{Channel, Channels, Outgoing, SendError};
use rustig::store::StoredNotice;

/// Answers with the scripted results in order, then `Ok`; records what it was given.
#[derive(Default)]
struct Scripted {
    results: Mutex<VecDeque<Result<(), SendError>>>,
    seen: Mutex<Vec<Outgoing>>,
}

#[async_trait]
impl Channel for Scripted {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.seen.lock().unwrap().push(msg.clone());
        self.results.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

struct Rig {
    release: Release,
    channel: Arc<Scripted>,
    sent: Arc<Mutex<Vec<SentMessage>>>,
}

impl std::ops::Deref for Rig {
    type Target = Release;
    fn deref(&self) -> &Release {
        &self.release
    }
}

const BASE: &str = r#"timezone = "Europe/Amsterdam"
[weekend]
enabled = false
[grades]
classroom_first = "off"
guardian_delay = "1h"
[digest]
guardians = "immediate"
[delivery]
max_attempts = 4
retry_base = "30s"
retry_max = "10m"
[schools.coornhert]
name = "Coornhert Lyceum"
"#;

async fn rig(extra: &str, start: &str) -> Rig {
    let config = Config::parse(Path::new("t.toml"), &format!("{BASE}{extra}")).unwrap();
    let dir = Directory::parse(include_bytes!("../config/directory.example.json")).unwrap();
    let channel = Arc::new(Scripted::default());
    let sent: Arc<Mutex<Vec<SentMessage>>> = Arc::default();
    let sink = sent.clone();
    let channels = Channels::default().with(ChannelKind::Email, channel.clone());
    let release = Release::new(config, dir, channels, start, |d| {
        d.observe(Arc::new(move |m: &SentMessage| {
            sink.lock().unwrap().push(m.clone())
        }))
    })
    .await;
    Rig {
        release,
        channel,
        sent,
    }
}

fn grade(id: &str, record: &str, student: &str, occurred: &str, value: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{occurred}","record":"{record}","student":"{student}","grade":{{"assessment":"a-{record}","subject":"wiskunde","class":"3c","description":"Toets","value":"{value}","kind":"test"}}}}"#
    )
}

impl Rig {
    async fn student_notice(&self, event: &str) -> StoredNotice {
        self.notices(event)
            .await
            .into_iter()
            .find(|n| n.recipient == "s-1001")
            .unwrap()
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_then_sent() {
    let r = rig("", "2026-11-24T10:00:00+01:00").await;
    r.channel.results.lock().unwrap().extend([
        Err(SendError::transient("451 greylisted")),
        Err(SendError::transient("connection reset")),
    ]);
    r.ingest(&grade(
        "e1",
        "r1",
        "s-1001",
        "2026-11-24T10:00:00+01:00",
        "7,5",
    ))
    .await;
    let t0 = r.clock.now();
    assert_eq!(r.tick(t0).await, 0);
    let n = r.student_notice("e1").await;
    assert_eq!((n.state.as_str(), n.attempts), ("pending", 1));
    assert_eq!(n.last_error.as_deref(), Some("451 greylisted"));
    let first_wait = n.due_at - t0;
    assert!(
        first_wait >= Duration::seconds(30) && first_wait <= Duration::seconds(36),
        "{first_wait}"
    );
    // Not before its time.
    assert_eq!(r.tick(t0 + Duration::seconds(29)).await, 0);
    assert_eq!(r.student_notice("e1").await.attempts, 1);

    let t1 = n.due_at;
    assert_eq!(r.tick(t1).await, 0);
    let n = r.student_notice("e1").await;
    assert_eq!(
        (n.attempts, n.last_error.as_deref()),
        (2, Some("connection reset"))
    );
    let second_wait = n.due_at - t1;
    assert!(
        second_wait >= Duration::seconds(60) && second_wait <= Duration::seconds(72),
        "{second_wait}"
    );

    assert_eq!(r.tick(n.due_at).await, 1);
    let n = r.student_notice("e1").await;
    assert_eq!((n.state.as_str(), n.attempts), ("sent", 3));
    // Every attempt carried the same idempotency key.
    let keys: Vec<String> = r
        .channel
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|o| o.recipient == "s-1001")
        .map(|o| o.key.clone())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]));
}

#[tokio::test]
async fn retry_after_is_honoured_and_permanent_failures_are_dead() {
    let r = rig("", "2026-11-24T10:00:00+01:00").await;
    r.channel.results.lock().unwrap().extend([
        Err(SendError::Transient {
            message: "429 slow down".into(),
            retry_after: Some(StdDuration::from_secs(600)),
        }),
        Err(SendError::Permanent("550 no such user".into())),
    ]);
    r.ingest(&grade(
        "e1",
        "r1",
        "s-1001",
        "2026-11-24T10:00:00+01:00",
        "7,5",
    ))
    .await;
    let t0 = r.clock.now();
    r.tick(t0).await;
    let n = r.student_notice("e1").await;
    assert!(n.due_at - t0 >= Duration::minutes(10), "{}", n.due_at - t0);
    r.tick(n.due_at).await;
    let n = r.student_notice("e1").await;
    assert_eq!(n.state, "dead");
    assert_eq!(n.last_error.as_deref(), Some("550 no such user"));
    assert_eq!(r.store.counts().await.unwrap().dead, 1);
    // Dead is final: nothing more is attempted.
    let tries = r.channel.seen.lock().unwrap().len();
    r.tick(t0 + Duration::days(1)).await;
    assert_eq!(
        r.channel
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.recipient == "s-1001")
            .count(),
        tries.min(2)
    );
}

#[tokio::test]
async fn after_max_attempts_a_message_is_dead() {
    let r = rig("", "2026-11-24T10:00:00+01:00").await;
    r.channel
        .results
        .lock()
        .unwrap()
        .extend((0..10).map(|_| Err(SendError::transient("timeout"))));
    r.ingest(&grade(
        "e1",
        "r1",
        "s-1001",
        "2026-11-24T10:00:00+01:00",
        "7,5",
    ))
    .await;
    let mut t = r.clock.now();
    for _ in 0..4 {
        r.tick(t).await;
        t = r.student_notice("e1").await.due_at.max(t);
    }
    let n = r.student_notice("e1").await;
    assert_eq!((n.state.as_str(), n.attempts), ("dead", 4));
    assert!(n.last_error.unwrap().contains("after 4 attempts"));
}

#[tokio::test]
async fn the_daily_cap_defers_to_the_next_days_first_slot() {
    let r = rig("", "2026-11-24T09:00:00+01:00").await;
    // A cap of 2 messages a day for everyone.
    let config = Config::parse(
        Path::new("t.toml"),
        &BASE.replace("[digest]\n", "[digest]\nmax_per_day = 2\n"),
    )
    .unwrap();
    r.ingestor.shared().set_config(config);
    for (i, t) in ["09:00", "10:00", "11:00"].iter().enumerate() {
        let when = format!("2026-11-24T{t}:00+01:00");
        r.clock.set(at(&when));
        r.ingest(&grade(
            &format!("e{i}"),
            &format!("r{i}"),
            "s-1001",
            &when,
            "8",
        ))
        .await;
        r.tick(at(&when)).await;
    }
    let third = r.student_notice("e2").await;
    assert_eq!(third.state, "pending");
    // Quiet hours end at 07:00: the first allowed moment of the next day.
    assert_eq!(third.due_at, at("2026-11-25T07:00:00+01:00"));
    assert_eq!(third.reasons.last().unwrap().rule, Rule::DailyCap);
    // Merel's parents hit their cap with the third grade too (an hour after her): all three
    // deferred messages go out at 07:00.
    assert_eq!(r.tick(at("2026-11-25T07:00:00+01:00")).await, 3);
    assert!(r.notices("e2").await.iter().all(|n| n.state == "sent"));
}

#[tokio::test]
async fn one_message_per_recipient_lists_both_children_and_only_the_current_value() {
    let r = rig("", "2026-11-24T10:00:00+01:00").await;
    let config = Config::parse(
        Path::new("t.toml"),
        &BASE.replace(
            "guardians = \"immediate\"",
            "guardians = \"0 17 * * mon-fri\"",
        ),
    )
    .unwrap();
    r.ingestor.shared().set_config(config);
    r.ingest(&grade(
        "e1",
        "r1",
        "s-1001",
        "2026-11-24T10:00:00+01:00",
        "5,4",
    ))
    .await;
    r.ingest(&grade(
        "e2",
        "r2",
        "s-1002",
        "2026-11-24T10:00:00+01:00",
        "7,8",
    ))
    .await;
    r.tick(at("2026-11-24T10:00:00+01:00")).await;
    // Merel's grade is corrected before the guardians' digest goes out.
    r.clock.set(at("2026-11-24T12:00:00+01:00"));
    r.ingest(&grade(
        "e3",
        "r1",
        "s-1001",
        "2026-11-24T12:00:00+01:00",
        "5,8",
    ))
    .await;
    r.tick(at("2026-11-24T12:00:00+01:00")).await;
    r.sent.lock().unwrap().clear();
    r.tick(at("2026-11-24T17:00:00+01:00")).await;
    let sent = r.sent.lock().unwrap().clone();
    let anna: Vec<&SentMessage> = sent
        .iter()
        .filter(|m| m.outgoing.recipient == "g-2001")
        .collect();
    assert_eq!(anna.len(), 1, "one digest for Anna");
    let events: Vec<&str> = anna[0]
        .notices
        .iter()
        .map(|n| n.event_id.as_str())
        .collect();
    assert!(
        events.contains(&"e2") && events.contains(&"e3") && !events.contains(&"e1"),
        "{events:?}"
    );
    let text = &anna[0].outgoing.content.text;
    assert!(text.contains("Merel") && text.contains("Daan"), "{text}");
    assert!(text.contains("5,8") && !text.contains("5,4"), "{text}");
}
