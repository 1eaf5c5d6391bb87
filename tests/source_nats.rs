//! The NATS JetStream source against the real server on 127.0.0.1:4222: events arrive once,
//! redeliveries and duplicates are harmless, a malformed message is quarantined and acked,
//! and a missing stream is a clear error unless `create = true`.

mod brokers;
mod common;

use std::time::Duration;

use brokers::{counts, grade, malformed, notices, start_daemon, wait_until, NatsStream};

fn nats_up() -> bool {
    common::service_available("NATS JetStream", brokers::NATS_ADDR)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_events_arrive_once_and_a_malformed_one_is_quarantined_and_acked() {
    if !nats_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stream = NatsStream::create("rustig-nats-once").await;
    let d = start_daemon(tmp.path(), &stream.ingest("")).await;
    let health = d.sources[0].clone();
    assert!(health.snapshot().name.starts_with("nats "));
    assert!(health.snapshot().connected);

    let ids: Vec<String> = (0..60).map(|i| format!("n-{i}")).collect();
    for id in &ids {
        stream.publish(grade(id)).await;
    }
    stream.publish(malformed("n-bad")).await;
    // The same events again, as a publisher retrying would send them.
    for id in &ids[..15] {
        stream.publish(grade(id)).await;
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

    // Longer than ack_wait (1 s): nothing comes back, the malformed message included.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let c = counts(&d).await;
    assert_eq!((c.events, c.quarantined), (60, 1), "{c:?}");
    let per_event = d.store.notices_of_event("n-0").await.unwrap().len() as i64;
    assert!(per_event > 0);
    assert_eq!(
        notices(&c),
        per_event * 60,
        "each event planned once: {c:?}"
    );
    assert_eq!(health.snapshot().acked, 76);
    wait_until(
        "the lag to be reported",
        Duration::from_secs(10),
        || async { health.snapshot().lag == Some(0) },
    )
    .await;

    d.shutdown().await;
    let info = stream.consumer_info().await;
    assert_eq!(info.num_pending, 0, "{info:?}");
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.num_redelivered, 0, "acked the first time: {info:?}");
    assert!(!health.snapshot().connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_arrived_while_rustig_was_down_is_taken_in_on_the_next_start() {
    if !nats_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stream = NatsStream::create("rustig-nats-later").await;
    let d = start_daemon(tmp.path(), &stream.ingest("")).await;
    stream.publish(grade("l-1")).await;
    wait_until("the first event", Duration::from_secs(20), || async {
        counts(&d).await.events == 1
    })
    .await;
    d.shutdown().await;

    // The durable consumer keeps its place while nobody listens.
    for i in 2..=5 {
        stream.publish(grade(&format!("l-{i}"))).await;
    }
    let d = start_daemon(tmp.path(), &stream.ingest("")).await;
    wait_until("all five events", Duration::from_secs(20), || async {
        counts(&d).await.events == 5
    })
    .await;
    d.shutdown().await;
    assert_eq!(stream.consumer_info().await.num_ack_pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_is_a_clear_error_unless_create_is_set() {
    if !nats_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let name = common::unique_name("rustig-nats-missing");
    let subject = format!("rustig-test.{name}");
    let ingest = |extra: &str| {
        format!(
            "[[ingest.nats]]\nurl = \"{}\"\nstream = \"{name}\"\nsubject = \"{subject}\"\n{extra}\n",
            brokers::NATS_URL
        )
    };
    let clock = std::sync::Arc::new(rustig::clock::ManualClock::new(brokers::at(
        "2026-11-20T21:14:00+01:00",
    )));
    let err = match rustig::daemon::start(brokers::config(tmp.path(), &ingest("")), clock.clone())
        .await
    {
        Ok(_) => panic!("started without its stream"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("stream {name:?} does not exist")),
        "{err}"
    );
    assert!(err.contains("create = true"), "{err}");

    // Told to, it creates the stream (and nothing else changes).
    let client = async_nats::connect(brokers::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let cleanup = Cleanup(name.clone());
    let d = rustig::daemon::start(brokers::config(tmp.path(), &ingest("create = true")), clock)
        .await
        .unwrap();
    js.publish(subject.clone(), grade("c-1").into())
        .await
        .unwrap()
        .await
        .unwrap();
    wait_until("the event", Duration::from_secs(20), || async {
        counts(&d).await.events == 1
    })
    .await;
    d.shutdown().await;
    drop(cleanup);
}

/// Deletes a stream the daemon created, also when the test fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(c) = async_nats::connect(brokers::NATS_URL).await {
                    let _ = async_nats::jetstream::new(c).delete_stream(&name).await;
                }
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_quarantined_and_acked_and_a_full_quarantine_acks_nothing() {
    if !nats_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stream = NatsStream::create("rustig-nats-quota").await;
    // 1 MiB in all, and whole items kept: one big rejected message fills it.
    let extra = "\n[quarantine]\nkeep_bytes = 1048576\nmax_bytes = 1048576\n";
    let d = start_daemon(tmp.path(), &format!("{}{extra}", stream.ingest(""))).await;
    let health = d.sources[0].clone();

    stream.publish(grade("q-1")).await;
    stream.publish(grade("q-1").replace("7,1", "3,0")).await;
    wait_until(
        "the conflict quarantined and both acked",
        Duration::from_secs(20),
        || async {
            let c = counts(&d).await;
            c.events == 1 && c.quarantined == 1 && health.snapshot().acked == 2
        },
    )
    .await;
    let kept = d.store.notices_of_event("q-1").await.unwrap();
    assert!(!kept.is_empty(), "the first version stays in force");

    let big = format!(r#"{{"id":"q-big","pad":"{}"}}"#, "z".repeat(1_000_000));
    stream.publish(big).await;
    wait_until(
        "the big one quarantined",
        Duration::from_secs(20),
        || async { counts(&d).await.quarantined == 2 },
    )
    .await;
    // Now nearly full: a rejected message of 60 kB cannot be kept, so it is not acknowledged.
    let bad = format!(r#"{{"id":"q-bad","pad":"{}"}}"#, "z".repeat(60_000));
    stream.publish(bad).await;
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
    assert!(d.ingestor.quarantine_full_refusals() >= 1);

    // Room again (retention or the operator): the redelivery is kept and acknowledged.
    let far = brokers::at("2030-01-01T00:00:00Z");
    assert_eq!(
        d.store.retention().purge_quarantine(far, 10).await.unwrap(),
        2
    );
    wait_until(
        "the redelivered message kept and acked",
        Duration::from_secs(30),
        || async { counts(&d).await.quarantined == 1 && health.snapshot().acked == 4 },
    )
    .await;
    d.shutdown().await;
    let info = stream.consumer_info().await;
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    // Delivered more often than published: the refused message came back.
    assert!(
        info.delivered.consumer_sequence > info.delivered.stream_sequence,
        "{info:?}"
    );
}
