//! NATS JetStream: a durable pull consumer. Messages are fetched in batches, committed through
//! the [`Ingestor`] in one transaction, and only then acknowledged, every one of them (also the
//! rejected ones: they are in quarantine). Whatever was not acknowledged comes back after
//! `ack_wait`, and event ids make that harmless. The client reconnects by itself; the pull
//! stream is re-created whenever it reports trouble.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{self, AckKind, Message};
use async_nats::{Client, ConnectOptions, Event};
use futures::StreamExt;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::NatsIngestConfig;
use crate::ingest::{Accepted, Ingestor};
use crate::source::health::SourceHealth;
use crate::source::support::{redact_url, stopped, Backoff};

/// JetStream's error code for "stream not found".
const STREAM_NOT_FOUND: u64 = 10059;
/// After the first message of a batch, how long to wait for more before committing.
const LINGER: Duration = Duration::from_millis(20);
/// How often the consumer's pending counts are asked for.
const LAG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NatsSourceError {
    #[error("nats {url}: reading the credentials file {path}: {source}")]
    Credentials {
        url: String,
        path: String,
        source: std::io::Error,
    },
    #[error("nats {url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error(
        "nats {url}: stream {stream:?} does not exist; create it (for example \
         `nats stream add {stream} --subjects '{subject}'`) or set create = true in its \
         [[ingest.nats]] table"
    )]
    MissingStream {
        url: String,
        stream: String,
        subject: String,
    },
    #[error("nats {url}: stream {stream:?}: {message}")]
    Stream {
        url: String,
        stream: String,
        message: String,
    },
    #[error("nats {url}: consumer {durable:?} on stream {stream:?}: {message}")]
    Consumer {
        url: String,
        stream: String,
        durable: String,
        message: String,
    },
}

/// A connected JetStream source with its durable consumer in place, ready to run.
pub struct NatsSource {
    cfg: NatsIngestConfig,
    client: Client,
    js: jetstream::Context,
    consumer: PullConsumer,
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    health: Arc<SourceHealth>,
}

impl NatsSource {
    /// Connects, checks (or, with `create`, makes) the stream and creates or updates the
    /// durable consumer. Errors here are configuration or reachability problems and stop the
    /// daemon's start, so an operator sees them at once.
    pub async fn connect(
        cfg: &NatsIngestConfig,
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
    ) -> Result<NatsSource, NatsSourceError> {
        let name = source_name(cfg);
        let health = SourceHealth::new(name.clone());
        let options = match &cfg.credentials {
            None => ConnectOptions::new(),
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| NatsSourceError::Credentials {
                    url: redact_url(&cfg.url),
                    path: path.display().to_string(),
                    source,
                })?,
        };
        let options = options
            .name("rustig")
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .event_callback(events(name, health.clone()));
        let client =
            options
                .connect(cfg.url.as_str())
                .await
                .map_err(|e| NatsSourceError::Connect {
                    url: redact_url(&cfg.url),
                    message: e.to_string(),
                })?;
        let js = jetstream::new(client.clone());
        let consumer = attach(&js, cfg).await?;
        health.set_connected(true);
        Ok(NatsSource {
            cfg: cfg.clone(),
            client,
            js,
            consumer,
            ingestor,
            clock,
            health,
        })
    }

    pub fn health(&self) -> Arc<SourceHealth> {
        self.health.clone()
    }

    pub fn name(&self) -> String {
        source_name(&self.cfg)
    }

    /// Fetches and commits batches until `stop`; the batch in flight is committed and
    /// acknowledged before this returns.
    pub async fn serve(mut self, mut stop: watch::Receiver<bool>) -> Result<(), NatsSourceError> {
        let name = self.name();
        let label = format!("nats:{}", self.cfg.stream);
        let mut backoff = Backoff::default();
        let mut lag_tick = tokio::time::interval(LAG_EVERY);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'connect: while !*stop.borrow() {
            let pull = self
                .consumer
                .stream()
                .max_messages_per_batch(self.cfg.batch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await;
            let mut messages = match pull {
                Ok(m) => m,
                Err(e) => {
                    self.trouble(&name, "starting a pull", &e);
                    if backoff.sleep(&mut stop).await {
                        break;
                    }
                    self.reattach(&name).await;
                    continue;
                }
            };
            loop {
                let first = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break 'connect,
                    _ = lag_tick.tick() => {
                        self.refresh_lag().await;
                        continue;
                    }
                    m = messages.next() => m,
                };
                let mut batch = match first {
                    Some(Ok(m)) => vec![m],
                    Some(Err(e)) => {
                        // Missed heartbeats while the server is away, a deleted consumer, …:
                        // start over with a fresh pull stream.
                        self.trouble(&name, "pulling", &e);
                        if backoff.sleep(&mut stop).await {
                            break 'connect;
                        }
                        self.reattach(&name).await;
                        continue 'connect;
                    }
                    None => continue 'connect,
                };
                backoff.reset();
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < self.cfg.batch {
                    match tokio::time::timeout_at(deadline, messages.next()).await {
                        Ok(Some(Ok(m))) => batch.push(m),
                        _ => break,
                    }
                }
                self.commit(&name, &label, &batch).await;
            }
        }
        // Acks are fire-and-forget publishes: make sure the last ones left.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.flush()).await;
        self.health.set_connected(false);
        tracing::info!(source = %name, "source stopped");
        Ok(())
    }

    /// Commits one batch, then acknowledges every message of it; on a store failure nothing is
    /// acknowledged and the batch is handed back to the server for a later try.
    async fn commit(&self, name: &str, label: &str, batch: &[Message]) {
        let raws: Vec<&[u8]> = batch.iter().map(|m| m.payload.as_ref()).collect();
        let now = self.clock.now();
        match self.ingestor.ingest(&raws, label, now).await {
            Ok(results) => {
                let mut failed = 0;
                for m in batch {
                    if let Err(e) = m.ack().await {
                        failed += 1;
                        self.health.error(format!("ack: {e}"));
                    }
                }
                if let Err(e) = self.client.flush().await {
                    self.health.error(format!("flushing acks: {e}"));
                }
                if failed > 0 {
                    // Committed anyway: the redelivery will be a duplicate.
                    tracing::warn!(source = %name, failed, "some acks were not sent; those messages will be redelivered");
                }
                self.health.batch_acked(batch.len() - failed, now);
                let rejected = results
                    .iter()
                    .filter(|r| matches!(r, Accepted::Rejected { .. }))
                    .count();
                tracing::debug!(source = %name, messages = batch.len(), rejected, "batch committed and acknowledged");
            }
            Err(e) => {
                tracing::error!(source = %name, error = %e, messages = batch.len(), "could not store a batch; it will be redelivered");
                self.health.error(format!("store: {e}"));
                for m in batch {
                    let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(5)))).await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    fn trouble(&self, name: &str, what: &str, e: &dyn std::fmt::Display) {
        tracing::warn!(source = %name, error = %e, "{what} failed; trying again");
        self.health.error(format!("{what}: {e}"));
    }

    /// Looks the stream and consumer up again (they may have been re-created or lost while
    /// the server was away). Failing that, the old handle is kept and the next round retries.
    async fn reattach(&mut self, name: &str) {
        match attach(&self.js, &self.cfg).await {
            Ok(c) => self.consumer = c,
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "could not re-attach to the consumer");
                self.health.error(e.to_string());
            }
        }
    }

    async fn refresh_lag(&mut self) {
        match self.consumer.info().await {
            Ok(info) => self
                .health
                .set_lag(Some(info.num_pending), Some(info.num_ack_pending as u64)),
            Err(e) => self.health.error(format!("consumer info: {e}")),
        }
    }
}

fn source_name(cfg: &NatsIngestConfig) -> String {
    format!("nats {}/{}", cfg.stream, cfg.durable)
}

/// The stream must exist (unless `create`); the durable consumer is created or updated to
/// match the config.
async fn attach(
    js: &jetstream::Context,
    cfg: &NatsIngestConfig,
) -> Result<PullConsumer, NatsSourceError> {
    let stream_err = |message: String| NatsSourceError::Stream {
        url: redact_url(&cfg.url),
        stream: cfg.stream.clone(),
        message,
    };
    let stream = match js.get_stream(&cfg.stream).await {
        Ok(s) => s,
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if j.error_code().0 == STREAM_NOT_FOUND => {
                if !cfg.create {
                    return Err(NatsSourceError::MissingStream {
                        url: redact_url(&cfg.url),
                        stream: cfg.stream.clone(),
                        subject: cfg.subject.clone(),
                    });
                }
                tracing::info!(stream = %cfg.stream, "creating the JetStream stream (create = true)");
                js.create_stream(jetstream::stream::Config {
                    name: cfg.stream.clone(),
                    subjects: vec![cfg.subject.clone()],
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| stream_err(e.to_string()))?
            }
            _ => return Err(stream_err(e.to_string())),
        },
    };
    let config = PullConfig {
        durable_name: Some(cfg.durable.clone()),
        filter_subject: cfg.subject.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
        ..Default::default()
    };
    stream
        .create_consumer(config)
        .await
        .map_err(|e| NatsSourceError::Consumer {
            url: redact_url(&cfg.url),
            stream: cfg.stream.clone(),
            durable: cfg.durable.clone(),
            message: e.to_string(),
        })
}

/// Logs connection changes and keeps `health` in step; the first `Connected` is the initial
/// connection, every later one a reconnect.
fn events(
    name: String,
    health: Arc<SourceHealth>,
) -> impl Fn(Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>
       + Send
       + Sync
       + 'static {
    let seen_first = Arc::new(AtomicBool::new(false));
    move |event| {
        let (name, health, seen_first) = (name.clone(), health.clone(), seen_first.clone());
        Box::pin(async move {
            match event {
                Event::Connected => {
                    if seen_first.swap(true, Ordering::SeqCst) {
                        health.reconnected();
                        tracing::info!(source = %name, "reconnected to the NATS server");
                    } else {
                        health.set_connected(true);
                    }
                }
                Event::Disconnected => {
                    health.set_connected(false);
                    health.error("disconnected from the NATS server");
                    tracing::warn!(source = %name, "disconnected from the NATS server; reconnecting");
                }
                Event::LameDuckMode => {
                    tracing::info!(source = %name, "NATS server is shutting down (lame duck mode)");
                }
                Event::SlowConsumer(_) => {
                    tracing::warn!(source = %name, "NATS reports this client as a slow consumer");
                }
                Event::ServerError(e) => {
                    health.error(format!("server: {e}"));
                    tracing::warn!(source = %name, error = %e, "NATS server error");
                }
                Event::ClientError(e) => {
                    // Mostly failed reconnect attempts while the server is away: one per try.
                    health.error(format!("client: {e}"));
                    tracing::debug!(source = %name, error = %e, "NATS client error");
                }
                Event::Draining | Event::Closed => {}
            }
        })
    }
}
