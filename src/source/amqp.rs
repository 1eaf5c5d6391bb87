//! RabbitMQ (AMQP 0-9-1): a consumer with manual acks and a prefetch window. Deliveries are
//! committed through the [`Ingestor`] in batches; after the commit one `basic.ack` with
//! `multiple` covers the whole batch, rejected (quarantined) messages included, so a malformed
//! message is never requeued. A store failure nacks the batch back onto the queue. When the
//! connection drops (broker restart) the source reconnects with backoff; whatever was
//! delivered but not acknowledged is redelivered by the broker, and event ids make that
//! harmless.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::AmqpIngestConfig;
use crate::ingest::Ingestor;
use crate::source::health::SourceHealth;
use crate::source::support::{redact_url, stopped, Backoff};

/// After the first delivery of a batch, how long to wait for more before committing.
const LINGER: Duration = Duration::from_millis(20);
/// How often the queue's ready count is asked for.
const LAG_EVERY: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AmqpSourceError {
    #[error("amqp {url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error(
        "amqp {url}: queue {queue:?} does not exist; declare it (and its bindings) on the \
         broker first: rustig creates nothing"
    )]
    MissingQueue { url: String, queue: String },
    #[error("amqp {url}: queue {queue:?}: {message}")]
    Queue {
        url: String,
        queue: String,
        message: String,
    },
}

/// One connection with its channel and consumer.
struct Session {
    conn: Connection,
    channel: Channel,
    consumer: Consumer,
    ready: u32,
}

/// A connected RabbitMQ source, consuming, ready to run.
pub struct AmqpSource {
    cfg: AmqpIngestConfig,
    session: Option<Session>,
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    health: Arc<SourceHealth>,
}

impl AmqpSource {
    /// Connects and starts consuming; a missing queue or an unreachable broker is an error
    /// here, so the daemon does not start half-blind.
    pub async fn connect(
        cfg: &AmqpIngestConfig,
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
    ) -> Result<AmqpSource, AmqpSourceError> {
        let health = SourceHealth::new(source_name(cfg));
        let session = open(cfg).await?;
        health.set_connected(true);
        health.set_lag(Some(u64::from(session.ready)), None);
        Ok(AmqpSource {
            cfg: cfg.clone(),
            session: Some(session),
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

    /// Consumes until `stop`; the batch in flight is committed and acknowledged, then the
    /// channel is closed, which hands prefetched but unprocessed deliveries back to the queue.
    pub async fn serve(mut self, mut stop: watch::Receiver<bool>) -> Result<(), AmqpSourceError> {
        let name = self.name();
        let label = format!("amqp:{}", self.cfg.queue);
        let mut backoff = Backoff::default();
        let mut lag_tick = tokio::time::interval(LAG_EVERY);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'connect: while !*stop.borrow() {
            let session = match self.session.take() {
                Some(s) => s,
                None => match open(&self.cfg).await {
                    Ok(s) => {
                        if backoff.attempts() > 0 {
                            tracing::info!(source = %name, "reconnected to the AMQP broker");
                            self.health.reconnected();
                        }
                        self.health.set_lag(Some(u64::from(s.ready)), None);
                        backoff.reset();
                        s
                    }
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "reconnecting failed; trying again");
                        self.health.error(e.to_string());
                        if backoff.sleep(&mut stop).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            self.health.set_connected(true);
            let Session {
                conn,
                channel,
                mut consumer,
                ..
            } = session;
            let trouble = loop {
                let first = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break None,
                    _ = lag_tick.tick() => {
                        self.refresh_lag(&channel).await;
                        continue;
                    }
                    d = consumer.next() => d,
                };
                let mut batch = match first {
                    Some(Ok(d)) => vec![d],
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break Some("the broker closed the consumer".to_string()),
                };
                let deadline = tokio::time::Instant::now() + LINGER;
                let mut ended = None;
                while batch.len() < self.cfg.batch {
                    match tokio::time::timeout_at(deadline, consumer.next()).await {
                        Ok(Some(Ok(d))) => batch.push(d),
                        Ok(Some(Err(e))) => {
                            ended = Some(e.to_string());
                            break;
                        }
                        Ok(None) => {
                            ended = Some("the broker closed the consumer".to_string());
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if let Err(e) = self.commit(&name, &label, &channel, &batch).await {
                    break Some(e);
                }
                if let Some(e) = ended {
                    break Some(e);
                }
            };
            match trouble {
                None => {
                    // Stopping: cancel, then close; unacknowledged deliveries go back.
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        let _ = channel
                            .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                            .await;
                        let _ = channel.close(200, "rustig stopping".into()).await;
                        let _ = conn.close(200, "rustig stopping".into()).await;
                    })
                    .await;
                    break 'connect;
                }
                Some(e) => {
                    tracing::warn!(source = %name, error = %e, "lost the AMQP connection; reconnecting");
                    self.health.set_connected(false);
                    self.health.error(&e);
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        conn.close(320, "rustig reconnecting".into()),
                    )
                    .await;
                    if backoff.sleep(&mut stop).await {
                        break 'connect;
                    }
                }
            }
        }
        self.health.set_connected(false);
        tracing::info!(source = %name, "source stopped");
        Ok(())
    }

    /// Commits one batch, then acknowledges it with one `basic.ack multiple`. An `Err` means
    /// the channel is unusable and the caller should reconnect.
    async fn commit(
        &self,
        name: &str,
        label: &str,
        channel: &Channel,
        batch: &[lapin::message::Delivery],
    ) -> Result<(), String> {
        let raws: Vec<&[u8]> = batch.iter().map(|d| d.data.as_slice()).collect();
        let last = batch.last().map(|d| d.delivery_tag).unwrap_or_default();
        let now = self.clock.now();
        match self.ingestor.ingest(&raws, label, now).await {
            Ok(_) => {
                channel
                    .basic_ack(last, BasicAckOptions { multiple: true })
                    .await
                    .map_err(|e| {
                        format!("ack after commit (the batch will be redelivered, harmlessly): {e}")
                    })?;
                self.health.batch_acked(batch.len(), now);
                tracing::debug!(source = %name, messages = batch.len(), "batch committed and acknowledged");
                Ok(())
            }
            Err(e) => {
                tracing::error!(source = %name, error = %e, messages = batch.len(), "could not store a batch; it goes back to the queue");
                self.health.error(format!("store: {e}"));
                let nack = channel
                    .basic_nack(
                        last,
                        BasicNackOptions {
                            multiple: true,
                            requeue: true,
                        },
                    )
                    .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                nack.map_err(|e| format!("nack: {e}"))
            }
        }
    }

    async fn refresh_lag(&self, channel: &Channel) {
        match channel
            .queue_declare(
                self.cfg.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(q) => self
                .health
                .set_lag(Some(u64::from(q.message_count())), None),
            Err(e) => self.health.error(format!("queue info: {e}")),
        }
    }
}

fn source_name(cfg: &AmqpIngestConfig) -> String {
    format!("amqp {}", cfg.queue)
}

/// Connects, checks the queue exists (passive declare: creates nothing), sets the prefetch
/// window and starts consuming with manual acks.
async fn open(cfg: &AmqpIngestConfig) -> Result<Session, AmqpSourceError> {
    let url = redact_url(&cfg.url);
    let connect_err = |message: String| AmqpSourceError::Connect {
        url: url.clone(),
        message,
    };
    let props = ConnectionProperties::default().with_connection_name("rustig".into());
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&cfg.url, props))
        .await
        .map_err(|_| connect_err(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| connect_err(e.to_string()))?;
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| connect_err(format!("opening a channel: {e}")))?;
    let queue_err = |message: String| AmqpSourceError::Queue {
        url: url.clone(),
        queue: cfg.queue.clone(),
        message,
    };
    let declared = channel
        .queue_declare(
            cfg.queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    let queue = match declared {
        Ok(q) => q,
        Err(e) => {
            let _ = conn.close(200, "rustig: queue missing".into()).await;
            return Err(match e.kind() {
                lapin::ErrorKind::ProtocolError(p) if p.get_id() == 404 => {
                    AmqpSourceError::MissingQueue {
                        url: url.clone(),
                        queue: cfg.queue.clone(),
                    }
                }
                _ => queue_err(e.to_string()),
            });
        }
    };
    channel
        .basic_qos(cfg.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| queue_err(format!("setting prefetch: {e}")))?;
    let consumer = channel
        .basic_consume(
            cfg.queue.as_str().into(),
            consumer_tag().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| queue_err(format!("consuming: {e}")))?;
    Ok(Session {
        conn,
        channel,
        consumer,
        ready: queue.message_count(),
    })
}

/// Unique per process and session, so the broker's consumer list says who is who.
fn consumer_tag() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "rustig-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
