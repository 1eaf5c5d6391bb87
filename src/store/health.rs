//! Store health for the admin API: is the database reachable, and what went wrong last.
//! Both stores feed one [`HealthState`] from their database calls, so a lost connection and
//! its recovery are logged once each instead of on every failing query.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::StoreError;

use crate::clock::{Clock, SystemClock};

/// How long a health probe may take before the store counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A snapshot of a store's health.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The last round trip to the database succeeded.
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Pending notices; `None` when the database did not answer.
    pub pending: Option<i64>,
    /// Open connections in the pool, and how many of them are idle.
    pub connections: u32,
    pub idle_connections: u32,
}

#[derive(Debug)]
struct Inner {
    connected: bool,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
}

/// What a store has seen of its database, updated by every call that goes through it.
#[derive(Debug)]
pub struct HealthState {
    backend: &'static str,
    inner: Mutex<Inner>,
}

/// Errors that mean the connection (not the query) failed; sqlx's pool replaces the
/// connection on the next acquire, so these heal by themselves once the database is back.
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // 08xxx connection exceptions, 57P0x shutdown / cannot connect now.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl HealthState {
    /// A store that just opened is connected.
    pub fn new(backend: &'static str) -> HealthState {
        HealthState {
            backend,
            inner: Mutex::new(Inner {
                connected: true,
                last_error: None,
                last_error_at: None,
            }),
        }
    }

    /// Records a successful round trip; logs a recovery after a lost connection.
    pub fn ok(&self) {
        let mut i = self.inner.lock().expect("health lock");
        if !i.connected {
            i.connected = true;
            tracing::info!(store = self.backend, "database reachable again");
        }
    }

    /// Records a database error and converts it, for `map_err`.
    pub fn db(&self, e: sqlx::Error) -> StoreError {
        self.failed(&e);
        StoreError::Db(e)
    }

    /// Records a database error; a lost connection is logged when it is first seen.
    pub fn failed(&self, e: &sqlx::Error) {
        let lost = is_connection_error(e);
        let mut i = self.inner.lock().expect("health lock");
        i.last_error = Some(e.to_string());
        i.last_error_at = Some(SystemClock.now());
        if lost && i.connected {
            i.connected = false;
            tracing::warn!(store = self.backend, error = %e, "database connection lost; reconnecting");
        } else if !lost {
            tracing::debug!(store = self.backend, error = %e, "database error");
        }
    }

    /// Passes `r` through, recording its outcome.
    pub fn observe<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Ok(_) => self.ok(),
            Err(StoreError::Db(e)) => self.failed(e),
            Err(_) => {}
        }
        r
    }

    /// Builds the snapshot from a probe's result (`pending` count or the error).
    pub fn snapshot(
        &self,
        probe: Result<i64, String>,
        connections: u32,
        idle_connections: u32,
    ) -> Health {
        let mut i = self.inner.lock().expect("health lock");
        let pending = match probe {
            Ok(n) => {
                if !i.connected {
                    tracing::info!(store = self.backend, "database reachable again");
                }
                i.connected = true;
                Some(n)
            }
            Err(message) => {
                if i.connected {
                    tracing::warn!(store = self.backend, error = %message, "database health probe failed");
                }
                i.connected = false;
                i.last_error = Some(message);
                i.last_error_at = Some(SystemClock.now());
                None
            }
        };
        Health {
            backend: self.backend,
            connected: i.connected,
            last_error: i.last_error.clone(),
            last_error_at: i.last_error_at,
            pending,
            connections,
            idle_connections,
        }
    }
}

/// Runs a probe query with [`PROBE_TIMEOUT`], flattening the outcome for [`HealthState::snapshot`].
pub async fn probe<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<i64, E>>,
) -> Result<i64, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, f).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
    }
}
