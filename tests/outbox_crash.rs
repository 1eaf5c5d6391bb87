//! Issue 11's reproduction, on SQLite and on PostgreSQL: everything is due at once, the relay
//! takes 3 s to answer 250, event A is posted, then B; rustig is SIGKILLed while A's message
//! waits at the relay and restarted after its lease ran out. A goes out again under the same
//! Message-ID carrying A only, and B in a message of its own (before the outbox, the relay
//! got `<k1>` with A, then `<k2>` with A and B).

mod common;

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::json;

const LEASE_SECS: u64 = 4;

async fn wait_for(
    what: &str,
    secs: u64,
    inbox: &common::Inbox,
    mut cond: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        if Instant::now() >= deadline {
            let seen: Vec<_> = inbox
                .lock()
                .unwrap()
                .iter()
                .map(|m| (m.key(), m.events()))
                .collect();
            panic!("timed out waiting for {what}; the relay got {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn crash_at_the_relay(store: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let directory = json!({"students": [{"id": "s-1", "school": "coornhert", "name": "Merel de Jong",
        "birth_date": "2011-03-14", "class": "3c", "locale": "nl",
        "contacts": [{"email": "s-1@example.test"}], "guardians": []}], "timetable": []});
    std::fs::write(tmp.path().join("directory.json"), directory.to_string()).unwrap();
    let (smtp, inbox, delay) = common::start_slow_server(3000);
    let http = common::free_port();
    let config = common::write_relay_config(
        tmp.path(),
        "rustig",
        store,
        http,
        smtp,
        &format!(
            "[delivery]\nlease = \"{LEASE_SECS}s\"\n[grades]\nclassroom_first = \"off\"\n\
             [digest]\nstudents = \"immediate\"\n"
        ),
    );
    let client = reqwest::Client::new();
    let now = || Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    let mut daemon = common::start_named_daemon(&config, "rustig");
    common::wait_ready(http).await;
    let a = common::grade_line("evt-A", "s-1", &now());
    assert_eq!(common::post_events(&client, http, a).await, Some(202));
    wait_for("A at the relay", 60, &inbox, async || {
        !inbox.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = common::grade_line("evt-B", "s-1", &now());
    assert_eq!(common::post_events(&client, http, b).await, Some(202));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The relay has A's message but has not answered yet: rustig never learns it went out.
    common::kill9(&mut daemon);
    assert_eq!(
        inbox.lock().unwrap().len(),
        1,
        "only A went out before the kill"
    );
    delay.store(0, std::sync::atomic::Ordering::SeqCst);
    // Past the lease: the restart finds A's claim expired and B due, both at once.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 1)).await;

    let mut daemon = common::start_named_daemon(&config, "rustig (restarted)");
    common::wait_ready(http).await;
    wait_for("A again and B", 60, &inbox, async || {
        let mail = inbox.lock().unwrap();
        let carrying = |e: &str| {
            mail.iter()
                .filter(|m| m.events().contains(&e.into()))
                .count()
        };
        carrying("evt-A") >= 2 && carrying("evt-B") >= 1
    })
    .await;
    // Anything else would arrive now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    common::kill9(&mut daemon);

    let mail = inbox.lock().unwrap().clone();
    let seen: Vec<(String, Vec<String>)> = mail.iter().map(|m| (m.key(), m.events())).collect();
    let first = &seen[0];
    assert_eq!(first.1, vec!["evt-A"], "{seen:?}");
    let with_a: Vec<_> = seen
        .iter()
        .filter(|(_, e)| e.contains(&"evt-A".into()))
        .collect();
    assert!(
        with_a.iter().all(|m| *m == first),
        "A goes out under one key, alone: {seen:?}"
    );
    let with_b: Vec<_> = seen
        .iter()
        .filter(|(_, e)| e.contains(&"evt-B".into()))
        .collect();
    assert_eq!(with_b.len(), 1, "{seen:?}");
    assert_eq!(
        with_b[0].1,
        vec!["evt-B"],
        "B in a message of its own: {seen:?}"
    );
    assert_ne!(with_b[0].0, first.0);

    // The store recorded the same keys.
    let s = rustig::store::open(store).await.unwrap();
    for (event, key) in [("evt-A", &first.0), ("evt-B", &with_b[0].0)] {
        let n = s.notices_of_event(event).await.unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(
            (n[0].state.as_str(), n[0].message_key.as_ref()),
            ("sent", Some(key))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_crash_at_the_relay_resends_the_same_message() {
    let tmp = tempfile::tempdir().unwrap();
    crash_at_the_relay(&format!("sqlite://{}/rustig.db", tmp.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_crash_at_the_relay_resends_the_same_message() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    crash_at_the_relay(&pg.url).await;
}
