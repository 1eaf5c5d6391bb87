//! The RabbitMQ source against the real broker on 127.0.0.1:5672: events arrive once,
//! duplicates are harmless, a malformed message is quarantined and acked (never requeued),
//! and a missing queue is a clear error.

mod brokers;
mod common;

use std::time::Duration;

use brokers::{counts, grade, malformed, notices, start_daemon, wait_until, AmqpQueue};

fn rabbit_up() -> bool {
    common::service_available("RabbitMQ", brokers::AMQP_ADDR)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_events_arrive_once_and_a_malformed_one_is_quarantined_and_acked() {
    if !rabbit_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut queue = AmqpQueue::create("rustig-amqp-once").await;
    let d = start_daemon(tmp.path(), &queue.ingest("")).await;
    let health = d.sources[0].clone();
    assert_eq!(health.snapshot().name, format!("amqp {}", queue.name));
    assert!(health.snapshot().connected);

    let ids: Vec<String> = (0..60).map(|i| format!("a-{i}")).collect();
    for id in &ids[..30] {
        queue.publish(grade(id)).await;
    }
    queue.publish(malformed("a-bad")).await;
    for id in &ids[30..] {
        queue.publish(grade(id)).await;
    }
    for id in &ids[..15] {
        queue.publish(grade(id)).await;
    }
    wait_until(
        "60 events and 1 quarantined",
        Duration::from_secs(30),
        || async {
            let c = counts(&d).await;
            c.events == 60 && c.quarantined == 1
        },
    )
    .await;
    wait_until("every message acked", Duration::from_secs(10), || async {
        health.snapshot().acked == 76
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = counts(&d).await;
    assert_eq!((c.events, c.quarantined), (60, 1), "{c:?}");
    let per_event = d.store.notices_of_event("a-0").await.unwrap().len() as i64;
    assert!(per_event > 0);
    assert_eq!(
        notices(&c),
        per_event * 60,
        "each event planned once: {c:?}"
    );
    wait_until(
        "the lag to be reported",
        Duration::from_secs(10),
        || async { health.snapshot().lag == Some(0) },
    )
    .await;

    // Closing the channel would hand back anything unacknowledged: nothing comes back.
    d.shutdown().await;
    assert_eq!(queue.ready().await, 0, "everything was acked");
    assert!(!health.snapshot().connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_a_clear_error() {
    if !rabbit_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let name = common::unique_name("rustig-amqp-missing");
    let ingest = format!(
        "[[ingest.amqp]]\nurl = \"{}\"\nqueue = \"{name}\"\n",
        brokers::AMQP_URL
    );
    let clock = std::sync::Arc::new(rustig::clock::ManualClock::new(brokers::at(
        "2026-11-20T21:14:00+01:00",
    )));
    let err = match rustig::daemon::start(brokers::config(tmp.path(), &ingest), clock).await {
        Ok(_) => panic!("started without its queue"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("queue {name:?} does not exist")),
        "{err}"
    );
    assert!(!err.contains("guest:guest"), "no password in errors: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_a_conflict_is_quarantined_and_acked_and_a_full_quarantine_acks_nothing() {
    if !rabbit_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut queue = AmqpQueue::create("rustig-amqp-quota").await;
    // 1 MiB in all, and whole items kept: one big rejected message fills it.
    let extra = "\n[quarantine]\nkeep_bytes = 1048576\nmax_bytes = 1048576\n";
    let d = start_daemon(tmp.path(), &format!("{}{extra}", queue.ingest(""))).await;
    let health = d.sources[0].clone();

    queue.publish(grade("c-1")).await;
    queue.publish(grade("c-1").replace("7,1", "3,0")).await;
    let big = format!(r#"{{"id":"c-big","pad":"{}"}}"#, "z".repeat(1_000_000));
    queue.publish(big).await;
    wait_until(
        "the conflict and the big one quarantined, all acked",
        Duration::from_secs(20),
        || async {
            let c = counts(&d).await;
            c.events == 1 && c.quarantined == 2 && health.snapshot().acked == 3
        },
    )
    .await;
    // Nearly full: a rejected message of 60 kB cannot be kept; it goes back to the queue.
    let bad = format!(r#"{{"id":"c-bad","pad":"{}"}}"#, "z".repeat(60_000));
    queue.publish(bad).await;
    wait_until(
        "the source to report the full quarantine",
        Duration::from_secs(20),
        || async {
            health
                .snapshot()
                .last_error
                .is_some_and(|e| e.contains("quarantine is full"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(counts(&d).await.quarantined, 2);
    assert_eq!(health.snapshot().acked, 3);

    // Room again: the requeued message is kept and acknowledged.
    let far = brokers::at("2030-01-01T00:00:00Z");
    assert_eq!(
        d.store.retention().purge_quarantine(far, 10).await.unwrap(),
        2
    );
    wait_until(
        "the requeued message kept and acked",
        Duration::from_secs(30),
        || async { counts(&d).await.quarantined == 1 && health.snapshot().acked == 4 },
    )
    .await;
    d.shutdown().await;
    assert_eq!(queue.ready().await, 0, "everything was acked in the end");
}
