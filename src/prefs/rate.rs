//! Fixed one-minute windows per key (a link, a client address): enough to stop someone
//! guessing or hammering the form, small enough to keep in memory.

use std::collections::HashMap;
use std::sync::Mutex;

/// Counts requests per key in the current minute.
#[derive(Debug, Default)]
pub struct Limiter {
    inner: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    minute: i64,
    counts: HashMap<String, u32>,
}

/// Keys remembered at most (a flood of fresh keys cannot grow memory without end); beyond
/// it every new key is refused until the minute turns.
const MAX_KEYS: usize = 100_000;

impl Limiter {
    /// Counts one request of `key` at unix second `now`; `false` when it exceeds `limit`
    /// this minute.
    pub fn allow(&self, key: &str, limit: u32, now: i64) -> bool {
        let mut w = self.inner.lock().expect("rate lock");
        let minute = now.div_euclid(60);
        if w.minute != minute {
            w.minute = minute;
            w.counts.clear();
        }
        if !w.counts.contains_key(key) && w.counts.len() >= MAX_KEYS {
            return false;
        }
        let n = w.counts.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_minute() {
        let l = Limiter::default();
        assert!(l.allow("a", 2, 60));
        assert!(l.allow("a", 2, 61));
        assert!(!l.allow("a", 2, 119));
        assert!(l.allow("b", 2, 119));
        assert!(l.allow("a", 2, 120), "a new minute");
    }
}
