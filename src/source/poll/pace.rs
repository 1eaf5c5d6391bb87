//! When a poller asks again: the interval with jitter (so many rustig instances, or many
//! sources, do not hit a SIS in step), and after a failure a backoff that honours
//! `Retry-After`.

use std::time::Duration;

use tokio::sync::watch;

use super::fetch::FetchError;
use crate::source::support::stopped;

/// The longest wait after transient failures (unless the interval is longer).
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Pace {
    interval: Duration,
    failures: u32,
}

impl Pace {
    pub fn new(interval: Duration) -> Pace {
        Pace {
            interval,
            failures: 0,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: `step` (the interval, or a share of it), give or take 10 %.
    pub fn ok(&mut self, step: Duration) -> Duration {
        self.failures = 0;
        jitter(step, 0.1)
    }

    /// After a failure. Transient: from a few seconds doubling up to five minutes (or the
    /// interval), never sooner than the server's `Retry-After`. Refused credentials or a
    /// request the SIS rejects: the next interval (retrying sooner cannot help).
    pub fn failed(&mut self, e: &FetchError) -> Duration {
        self.failures += 1;
        match e {
            FetchError::Transient { retry_after, .. } => {
                let base = self.interval.min(Duration::from_secs(5));
                let cap = BACKOFF_MAX.max(self.interval);
                let wait = base
                    .saturating_mul(1 << (self.failures - 1).min(16))
                    .min(cap);
                jitter(wait, 0.2).max(retry_after.unwrap_or_default())
            }
            FetchError::Unauthorized(_) | FetchError::Permanent(_) => jitter(self.interval, 0.1),
        }
    }
}

/// `d` scaled by a random factor in [1 - share, 1 + share].
pub fn jitter(d: Duration, share: f64) -> Duration {
    let f = 1.0 + share * (2.0 * fastrand::f64() - 1.0);
    d.mul_f64(f.max(0.0))
}

/// Sleeps `d`; true when `stop` came first.
pub async fn sleep(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = stopped(stop) => true,
        _ = tokio::time::sleep(d) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(retry_after: Option<u64>) -> FetchError {
        FetchError::Transient {
            message: "503".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backs_off_doubling_within_bounds_and_honours_retry_after() {
        let mut p = Pace::new(Duration::from_secs(900));
        let waits: Vec<f64> = (0..10)
            .map(|_| p.failed(&transient(None)).as_secs_f64())
            .collect();
        // 5 s doubling (±20 %), capped at the interval.
        assert!((4.0..=6.0).contains(&waits[0]), "{waits:?}");
        assert!((8.0..=12.0).contains(&waits[1]), "{waits:?}");
        assert!(waits[9] <= 900.0 * 1.2, "{waits:?}");
        assert!(waits[9] >= 900.0 * 0.8, "{waits:?}");
        assert_eq!(p.failures(), 10);
        // Retry-After wins when later.
        let mut p = Pace::new(Duration::from_secs(900));
        assert!(p.failed(&transient(Some(120))) >= Duration::from_secs(120));
        // After a success the count starts over.
        let ok = p.ok(Duration::from_secs(10)).as_secs_f64();
        assert!((9.0..=11.0).contains(&ok), "{ok}");
        assert_eq!(p.failures(), 0);
        // Refused credentials: the next interval, not a hammering retry.
        let w = p.failed(&FetchError::Unauthorized("401".into()));
        assert!(w >= Duration::from_secs(800), "{w:?}");
    }
}
