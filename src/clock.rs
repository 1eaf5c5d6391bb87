//! Time for the IO shell, and the only place that reads the wall clock. The pure core never
//! reads a clock; the scheduler asks this one, and tests and `simulate` drive a manual one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Returns at `t` or later. Callers race it against their own wake-ups.
    async fn sleep_until(&self, t: DateTime<Utc>);
}

/// The wall clock.
pub struct SystemClock;

impl SystemClock {
    /// The wall clock as a `SystemTime`, for what other machines hold against real time
    /// whatever clock the scheduler runs on: token lifetimes, signature timestamps, HTTP
    /// dates and file ages.
    pub fn system_time() -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}

/// The longest single sleep: re-reading the wall clock hourly copes with it being set.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(3600);

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            let left = (t - Utc::now()).to_std().unwrap_or_default();
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(MAX_SLEEP)).await;
        }
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    tx: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            tx: watch::channel(start).0,
        }
    }

    /// Moves the clock to `t` (never backwards).
    pub fn set(&self, t: DateTime<Utc>) {
        self.tx.send_if_modified(|now| {
            if t > *now {
                *now = t;
                true
            } else {
                false
            }
        });
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.set(self.now() + d);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.tx.borrow()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|now| *now >= t).await;
    }
}
