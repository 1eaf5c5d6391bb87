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
