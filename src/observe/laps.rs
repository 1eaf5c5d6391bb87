//! Time per phase of a repeated job (ingest batches, release rounds), summed since start:
//! what `rustig bench` prints to show which phase limits a rate. Relaxed atomics, a few per
//! batch: nothing measurable next to the work timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `N` phases, each a running total of nanoseconds.
#[derive(Debug)]
pub struct Laps<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Laps<N> {
    fn default() -> Self {
        Laps(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Laps<N> {
    /// Adds the time since `since` to phase `i`; returns now, the start of the next phase.
    pub fn lap(&self, i: usize, since: Instant) -> Instant {
        let now = Instant::now();
        self.0[i].fetch_add((now - since).as_nanos() as u64, Ordering::Relaxed);
        now
    }

    /// Each phase's total, in seconds.
    pub fn seconds(&self) -> [f64; N] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed) as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_add_up_per_phase() {
        let laps = Laps::<2>::default();
        let t0 = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t1 = laps.lap(1, t0);
        laps.lap(1, t1);
        let [a, b] = laps.seconds();
        assert_eq!(a, 0.0);
        assert!(b >= 0.005, "{b}");
    }
}
