//! What each source reports about itself (connected, lag, last error), so that an admin API
//! or a health check can show why events are not arriving without reading the logs.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::{Clock, SystemClock};

/// A copy of one source's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSnapshot {
    /// As in the logs: "nats grades/rustig", "amqp sis-events", "http 127.0.0.1:8425".
    pub name: String,
    pub connected: bool,
    /// Messages waiting upstream, where the broker reports it (JetStream: not yet delivered to
    /// the consumer; RabbitMQ: ready in the queue).
    pub lag: Option<u64>,
    /// Delivered to us but not acknowledged yet (JetStream only).
    pub ack_pending: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Times the connection came back after being lost.
    pub reconnects: u64,
    pub last_batch_at: Option<DateTime<Utc>>,
    /// Messages committed (or quarantined) and acknowledged since start.
    pub acked: u64,
}

/// Shared between a running source (writer) and whoever asks (readers).
#[derive(Debug)]
pub struct SourceHealth(Mutex<HealthSnapshot>);

impl SourceHealth {
    pub fn new(name: impl Into<String>) -> Arc<SourceHealth> {
        Arc::new(SourceHealth(Mutex::new(HealthSnapshot {
            name: name.into(),
            connected: false,
            lag: None,
            ack_pending: None,
            last_error: None,
            last_error_at: None,
            reconnects: 0,
            last_batch_at: None,
            acked: 0,
        })))
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().clone()
    }

    pub fn set_connected(&self, connected: bool) {
        self.lock().connected = connected;
    }

    /// The connection came back; counts it and clears nothing else (the last error stays
    /// visible until something newer replaces it).
    pub fn reconnected(&self) {
        let mut h = self.lock();
        h.connected = true;
        h.reconnects += 1;
    }

    pub fn set_lag(&self, lag: Option<u64>, ack_pending: Option<u64>) {
        let mut h = self.lock();
        h.lag = lag;
        h.ack_pending = ack_pending;
    }

    pub fn error(&self, error: impl ToString) {
        let mut h = self.lock();
        h.last_error = Some(error.to_string());
        h.last_error_at = Some(SystemClock.now());
    }

    pub fn batch_acked(&self, n: usize, at: DateTime<Utc>) {
        let mut h = self.lock();
        h.acked += n as u64;
        h.last_batch_at = Some(at);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthSnapshot> {
        // A panic while holding this lock cannot leave the snapshot half-written in a way
        // that matters; keep reporting.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
