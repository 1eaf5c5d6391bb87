//! Helpers for the tests against the real NATS JetStream and RabbitMQ on this machine: a
//! config with a broker source, a stream or queue of the test's own that is removed again
//! (also when the test fails), publishing, and waiting.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rustig::clock::{Clock, ManualClock};

use crate::common::daemon::BaseConfig;
use rustig::config::Config;
use rustig::daemon::Running;

pub const NATS_ADDR: &str = "127.0.0.1:4222";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const AMQP_ADDR: &str = "127.0.0.1:5672";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A grade for Merel (s-1001), its own record, entered on a Friday night: the planner holds
/// its notices, so they stay pending in the store and can be counted.
pub fn grade(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"2026-11-20T21:00:00+01:00","record":"r-{id}","student":"s-1001","grade":{{"assessment":"a-{id}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,1","kind":"test"}}}}"#
    )
}

/// Not an event: `school` is missing.
pub fn malformed(id: &str) -> String {
    format!(r#"{{"id":"{id}","type":"grade.entered","occurred_at":"2026-11-20T21:00:00+01:00"}}"#)
}

/// A complete config around `ingest` (one or more `[[ingest.*]]` tables, or `[ingest.http]`).
pub fn config_text(tmp: &Path, ingest: &str) -> String {
    BaseConfig::new(tmp)
        .without_http_ingest()
        .extra(ingest)
        .text()
}

pub fn config(tmp: &Path, ingest: &str) -> Config {
    Config::parse(Path::new("test.toml"), &config_text(tmp, ingest)).unwrap()
}

/// An in-process daemon on a clock stopped on Friday night: nothing gets sent.
pub async fn start_daemon(tmp: &Path, ingest: &str) -> Running {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at("2026-11-20T21:14:00+01:00")));
    rustig::daemon::start(config(tmp, ingest), clock)
        .await
        .unwrap()
}

/// Polls `cond` until it holds; fails the test after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn counts(d: &Running) -> rustig::store::Counts {
    d.store.counts().await.unwrap()
}

/// Every notice in the store, whatever its state.
pub fn notices(c: &rustig::store::Counts) -> i64 {
    c.pending + c.claimed + c.sent + c.dead
}

// ---- NATS JetStream ------------------------------------------------------------------------

/// A stream of the test's own (file storage, so it survives a server restart); deleted on drop.
pub struct NatsStream {
    pub name: String,
    pub subject: String,
    pub js: jetstream::Context,
}

impl NatsStream {
    pub async fn create(prefix: &str) -> NatsStream {
        let name = crate::common::unique_name(prefix);
        let subject = format!("rustig-test.{name}");
        let client = async_nats::connect(NATS_URL).await.unwrap();
        let js = jetstream::new(client);
        js.create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
        NatsStream { name, subject, js }
    }

    /// The `[[ingest.nats]]` table for this stream.
    pub fn ingest(&self, extra: &str) -> String {
        format!(
            "[[ingest.nats]]\nurl = \"{NATS_URL}\"\nstream = \"{}\"\nsubject = \"{}\"\ndurable = \"rustig\"\nack_wait = \"1s\"\nbatch = 20\n{extra}\n",
            self.name, self.subject
        )
    }

    /// Publishes and waits for JetStream's ack; retries while the server is (re)starting.
    pub async fn publish(&self, payload: String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sent = match self
                .js
                .publish(self.subject.clone(), payload.clone().into())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(()) => return,
                Err(e) => {
                    assert!(Instant::now() < deadline, "publishing to NATS: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    pub async fn consumer_info(&self) -> jetstream::consumer::Info {
        let stream = self.js.get_stream(&self.name).await.unwrap();
        stream.consumer_info("rustig").await.unwrap()
    }
}

impl Drop for NatsStream {
    fn drop(&mut self) {
        let name = self.name.clone();
        // The test's runtime may be gone or busy: delete from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    if let Ok(c) = async_nats::connect(NATS_URL).await {
                        let js = jetstream::new(c);
                        if js.delete_stream(&name).await.is_ok() {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                eprintln!("could not delete the test stream {name}");
            })
        })
        .join();
    }
}

// ---- RabbitMQ ------------------------------------------------------------------------------

/// A durable queue of the test's own; deleted on drop.
pub struct AmqpQueue {
    pub name: String,
    channel: lapin::Channel,
    _conn: Connection,
}

impl AmqpQueue {
    pub async fn create(prefix: &str) -> AmqpQueue {
        let name = crate::common::unique_name(prefix);
        let (conn, channel) = Self::connect().await;
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        AmqpQueue {
            name,
            channel,
            _conn: conn,
        }
    }

    async fn connect() -> (Connection, lapin::Channel) {
        let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        (conn, channel)
    }

    /// The `[[ingest.amqp]]` table for this queue.
    pub fn ingest(&self, extra: &str) -> String {
        format!(
            "[[ingest.amqp]]\nurl = \"{AMQP_URL}\"\nqueue = \"{}\"\nprefetch = 20\nbatch = 10\n{extra}\n",
            self.name
        )
    }

    /// Publishes persistently with a publisher confirm; reconnects (a broker restart closes
    /// the connection) and retries until the broker confirms.
    pub async fn publish(&mut self, payload: String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sent = async {
                self.channel
                    .basic_publish(
                        "".into(),
                        self.name.as_str().into(),
                        BasicPublishOptions::default(),
                        payload.as_bytes(),
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?
                    .await
            }
            .await;
            match sent {
                Ok(c) if c.is_ack() => return,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "publishing to RabbitMQ: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if let Ok(Ok(conn)) = tokio::time::timeout(
                        Duration::from_secs(5),
                        Connection::connect(AMQP_URL, ConnectionProperties::default()),
                    )
                    .await
                    {
                        if let Ok(ch) = conn.create_channel().await {
                            if ch
                                .confirm_select(ConfirmSelectOptions::default())
                                .await
                                .is_ok()
                            {
                                self.channel = ch;
                                self._conn = conn;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Messages ready in the queue (not delivered, or handed back unacknowledged).
    pub async fn ready(&self) -> u32 {
        let (_conn, ch) = Self::connect().await;
        ch.queue_declare(
            self.name.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
    }
}

impl Drop for AmqpQueue {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline {
                    if let Ok(conn) =
                        Connection::connect(AMQP_URL, ConnectionProperties::default()).await
                    {
                        if let Ok(ch) = conn.create_channel().await {
                            if ch
                                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                                .await
                                .is_ok()
                            {
                                return;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                eprintln!("could not delete the test queue {name}");
            })
        })
        .join();
    }
}
