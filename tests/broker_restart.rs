//! The broker sources across a restart of the broker itself: NATS (the server process) and
//! RabbitMQ (`stop_app`/`start_app`) go away under a running daemon with messages in flight;
//! the source notices, reconnects on its own, and every event ends up in the store once.
//!
//! Restarting a broker disturbs everything else that uses it, so all scenarios run in order
//! from one `#[test]`, and each leaves its broker running, also when it fails.

mod brokers;
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use brokers::{counts, grade, notices, start_daemon, wait_until, AmqpQueue, NatsStream};

#[test]
fn sources_reconnect_after_a_broker_restart_and_lose_nothing() {
    let nats = common::service_available("NATS JetStream", brokers::NATS_ADDR);
    let rabbit = common::service_available("RabbitMQ", brokers::AMQP_ADDR);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if nats {
        rt.block_on(nats_server_restart());
    }
    if rabbit {
        rt.block_on(rabbitmq_restart());
    }
}

// ---- NATS ----------------------------------------------------------------------------------

/// Starts nats-server again when dropped, so a failing test leaves it running.
struct NatsBack;

impl Drop for NatsBack {
    fn drop(&mut self) {
        start_nats();
    }
}

fn stop_nats() {
    let status = Command::new("start-stop-daemon")
        .args(["--stop", "--retry", "30", "--exec", "/usr/sbin/nats-server"])
        .status()
        .expect("start-stop-daemon");
    assert!(status.success(), "stopping nats-server: {status}");
    wait_port(brokers::NATS_ADDR, false);
}

fn start_nats() {
    let status = Command::new("start-stop-daemon")
        .args([
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/nats-server",
            "--",
            "-a",
            "127.0.0.1",
            "-p",
            "4222",
            "-js",
            "-sd",
            "/var/lib/nats-server",
        ])
        .status()
        .expect("start-stop-daemon");
    assert!(status.success(), "starting nats-server: {status}");
    wait_port(brokers::NATS_ADDR, true);
}

async fn nats_server_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let stream = NatsStream::create("rustig-nats-restart").await;
    let d = start_daemon(tmp.path(), &stream.ingest("")).await;
    let health = d.sources[0].clone();

    for i in 0..200 {
        stream.publish(grade(&format!("nr-{i}"))).await;
    }
    wait_until("the first events", Duration::from_secs(20), || async {
        counts(&d).await.events > 0
    })
    .await;
    {
        let _back = NatsBack;
        stop_nats();
        wait_until("the source to notice", Duration::from_secs(20), || async {
            !health.snapshot().connected
        })
        .await;
    } // started again here
    wait_until(
        "the source to reconnect",
        Duration::from_secs(30),
        || async {
            let h = health.snapshot();
            h.connected && h.reconnects >= 1
        },
    )
    .await;
    for i in 200..250 {
        stream.publish(grade(&format!("nr-{i}"))).await;
    }
    wait_until("all 250 events", Duration::from_secs(60), || async {
        counts(&d).await.events == 250
    })
    .await;
    // Past ack_wait: whatever was redelivered changed nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let c = counts(&d).await;
    let per_event = d.store.notices_of_event("nr-0").await.unwrap().len() as i64;
    assert_eq!((c.events, c.quarantined), (250, 0), "{c:?}");
    assert_eq!(
        notices(&c),
        per_event * 250,
        "each event planned once: {c:?}"
    );
    let h = health.snapshot();
    assert!(h.last_error.is_some(), "the outage is on record: {h:?}");
    d.shutdown().await;
    let info = stream.consumer_info().await;
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
    eprintln!(
        "nats restart: {} redelivered, {} reconnects",
        info.num_redelivered, h.reconnects
    );
}

// ---- RabbitMQ ------------------------------------------------------------------------------

/// Runs `rabbitmqctl start_app` when dropped, so a failing test leaves the broker running.
struct RabbitBack;

impl Drop for RabbitBack {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
        wait_port(brokers::AMQP_ADDR, true);
    }
}

fn rabbitmqctl(what: &str) {
    let out = Command::new("rabbitmqctl")
        .arg(what)
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn rabbitmq_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut queue = AmqpQueue::create("rustig-amqp-restart").await;
    let d = start_daemon(tmp.path(), &queue.ingest("")).await;
    let health = d.sources[0].clone();

    for i in 0..200 {
        queue.publish(grade(&format!("ar-{i}"))).await;
    }
    wait_until("the first events", Duration::from_secs(20), || async {
        counts(&d).await.events > 0
    })
    .await;
    {
        let _back = RabbitBack;
        tokio::task::spawn_blocking(|| rabbitmqctl("stop_app"))
            .await
            .unwrap();
        wait_until("the source to notice", Duration::from_secs(30), || async {
            !health.snapshot().connected
        })
        .await;
    } // started again here
    wait_until(
        "the source to reconnect",
        Duration::from_secs(60),
        || async {
            let h = health.snapshot();
            h.connected && h.reconnects >= 1
        },
    )
    .await;
    for i in 200..250 {
        queue.publish(grade(&format!("ar-{i}"))).await;
    }
    wait_until("all 250 events", Duration::from_secs(60), || async {
        counts(&d).await.events == 250
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = counts(&d).await;
    let per_event = d.store.notices_of_event("ar-0").await.unwrap().len() as i64;
    assert_eq!((c.events, c.quarantined), (250, 0), "{c:?}");
    assert_eq!(
        notices(&c),
        per_event * 250,
        "each event planned once: {c:?}"
    );
    let h = health.snapshot();
    assert!(h.last_error.is_some(), "the outage is on record: {h:?}");
    d.shutdown().await;
    assert_eq!(queue.ready().await, 0, "everything was acked");
    eprintln!("rabbitmq restart: {} reconnects", h.reconnects);
}

/// Waits until something listens on `addr` (`open`) or nothing does any more.
fn wait_port(addr: &str, open: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let is_open = std::net::TcpStream::connect_timeout(
            &addr.parse().unwrap(),
            Duration::from_millis(500),
        )
        .is_ok();
        if is_open == open {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not become {}",
            if open { "reachable" } else { "unreachable" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
