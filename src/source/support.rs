//! Small things the broker sources share: backoff between reconnects, and URLs fit for logs.

use std::time::Duration;

use tokio::sync::watch;

/// 250 ms doubling to 10 s; reset after something worked.
#[derive(Debug, Default)]
pub struct Backoff(u32);

impl Backoff {
    pub fn reset(&mut self) {
        self.0 = 0;
    }

    /// Waits since the last reset: more than zero means something has been failing.
    pub fn attempts(&self) -> u32 {
        self.0
    }

    pub fn next_wait(&mut self) -> Duration {
        let wait = Duration::from_millis(250 << self.0.min(6)).min(Duration::from_secs(10));
        self.0 += 1;
        wait
    }

    /// Sleeps the next interval; true when `stop` came first (or its sender is gone).
    pub async fn sleep(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let wait = self.next_wait();
        tokio::select! {
            _ = stopped(stop) => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone). Holds no borrow of the channel
/// afterwards, so it can sit in a `select!` of a `Send` future.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The URL without its password, for logs, errors and health: `amqp://rustig:***@mq:5672/%2f`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            // A lone user part may be a token (NATS): hide it too.
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
                None => format!("{scheme}://***@{host}{path}"),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("nats://tok@host:4222"), "nats://***@host:4222");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url("127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(redact_url("amqp://u:p@ss@h/v?x=@"), "amqp://u:***@h/v?x=@");
    }

    #[test]
    fn doubles_up_to_ten_seconds_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.next_wait().as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(250));
    }
}
