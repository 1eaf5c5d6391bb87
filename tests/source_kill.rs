//! The `rustig` binary consuming from NATS and from RabbitMQ, killed with SIGKILL while it
//! has messages fetched but not acknowledged: started again, it gets them redelivered and
//! every event ends up in the store exactly once.

mod brokers;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use brokers::{grade, wait_until, AmqpQueue, NatsStream};

/// The daemon as a process; killed when dropped so a failing test leaves nothing behind.
struct Daemon(Child);

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_rustig"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUSTIG_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Daemon(child)
    }

    fn kill9(mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }

    /// SIGTERM, and the clean exit that should follow.
    fn terminate(mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "rustig exited with {status}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(tmp: &Path, ingest: &str) -> PathBuf {
    let path = tmp.join("rustig.toml");
    std::fs::write(&path, brokers::config_text(tmp, ingest)).unwrap();
    path
}

/// (events, quarantined, notices, notices of the first event) as the store has them now.
async fn in_store(tmp: &Path, first: &str) -> (i64, i64, i64, i64) {
    let url = format!("sqlite://{}/rustig.db?mode=ro", tmp.display());
    let Ok(mut conn) = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await else {
        return (0, 0, 0, 0);
    };
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let events = count("SELECT COUNT(*) FROM events")
        .fetch_one(&mut conn)
        .await;
    let Ok(events) = events else {
        return (0, 0, 0, 0); // not migrated yet
    };
    let quarantined = count("SELECT COUNT(*) FROM quarantine")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let notices = count("SELECT COUNT(*) FROM notices")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let of_first = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notices WHERE event_id = ?")
        .bind(first)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (events, quarantined, notices, of_first)
}

const N: i64 = 400;

/// Starts rustig on a full backlog and kills it as soon as the first batch is on disk, with
/// the next ones fetched and not yet acknowledged.
async fn start_and_kill(tmp: &Path, config: &Path, prefix: &str) {
    let (earlier, ..) = in_store(tmp, "").await;
    let daemon = Daemon::start(config);
    wait_until("the first batch", Duration::from_secs(30), || async {
        in_store(tmp, "").await.0 > earlier
    })
    .await;
    daemon.kill9();
    let (before, ..) = in_store(tmp, "").await;
    eprintln!("{prefix}: killed with {before} of {N} events stored");
    assert!(before < N, "killed too late to leave anything in flight");
}

/// Starts rustig again and waits until every event is stored, once.
async fn resume(tmp: &Path, config: &Path, prefix: &str) {
    let daemon = Daemon::start(config);
    wait_until("every event", Duration::from_secs(60), || async {
        in_store(tmp, "").await.0 >= N
    })
    .await;
    // Past ack_wait (2 s): redeliveries of what was committed but not acked are harmless.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (events, quarantined, notices, per_event) = in_store(tmp, &format!("{prefix}-0")).await;
    assert_eq!((events, quarantined), (N, 0));
    assert!(per_event > 0);
    assert_eq!(notices, per_event * N, "each event planned once");
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_gets_its_unacked_nats_messages_again() {
    if !common::service_available("NATS JetStream", brokers::NATS_ADDR) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stream = NatsStream::create("rustig-nats-kill").await;
    let config = write_config(
        tmp.path(),
        &stream
            .ingest("")
            .replace("ack_wait = \"1s\"", "ack_wait = \"2s\""),
    );
    for i in 0..N {
        stream.publish(grade(&format!("nk-{i}"))).await;
    }
    // Killed between fetch and ack: JetStream still counts those messages as unacknowledged.
    // (Timing decides; a kill that happened to fall between two pulls is tried again.)
    let mut in_flight = 0;
    for _ in 0..5 {
        start_and_kill(tmp.path(), &config, "nk").await;
        in_flight = stream.consumer_info().await.num_ack_pending;
        if in_flight > 0 {
            break;
        }
    }
    assert!(in_flight > 0, "never killed with messages in flight");
    resume(tmp.path(), &config, "nk").await;
    let info = stream.consumer_info().await;
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_gets_its_unacked_amqp_messages_again() {
    if !common::service_available("RabbitMQ", brokers::AMQP_ADDR) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut queue = AmqpQueue::create("rustig-amqp-kill").await;
    let config = write_config(
        tmp.path(),
        &queue.ingest("").replace("prefetch = 20", "prefetch = 100"),
    );
    for i in 0..N {
        queue.publish(grade(&format!("ak-{i}"))).await;
    }
    start_and_kill(tmp.path(), &config, "ak").await;
    // The broker took back what the dead connection had not acknowledged.
    wait_until(
        "the unacked messages back in the queue",
        Duration::from_secs(10),
        || async {
            let ready = i64::from(queue.ready().await);
            in_store(tmp.path(), "").await.0 + ready >= N
        },
    )
    .await;
    resume(tmp.path(), &config, "ak").await;
    assert_eq!(queue.ready().await, 0, "everything was acked");
}
