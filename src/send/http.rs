//! What the HTTP channels (Web Push, FCM, ntfy, webhooks) share: one connection pool, a
//! timeout per request, a limit of requests in flight per host (one slow push service must
//! not take every delivery slot), and one reading of HTTP answers:
//!
//! - 2xx: delivered;
//! - 408, 425, 429 and 5xx: transient, retried after `Retry-After` when the service sends one;
//! - connection failures and timeouts: transient;
//! - any other answer: permanent (the channel may first read 404/410 as "contact gone").
//!
//! Error texts never carry URLs: push endpoints and webhook URLs identify people.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use super::{Contact, Delivery, GoneContact, SendError};
use crate::clock::SystemClock;
use crate::config::DeliveryConfig;

/// Answers longer than this are cut; only the start matters for error texts.
const MAX_BODY: usize = 64 * 1024;

/// Errors while setting the HTTP client up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct HttpSetupError(String);

/// The HTTP client the channels share.
pub struct HttpSender {
    client: reqwest::Client,
    timeout: Duration,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// An HTTP answer, read whole (up to 64 KiB).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl HttpSender {
    pub fn new(timeout: Duration, per_host: usize) -> Result<HttpSender, HttpSetupError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("rustig/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpSetupError(e.to_string()))?;
        Ok(HttpSender {
            client,
            timeout,
            per_host: per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    pub fn from_config(d: &DeliveryConfig) -> Result<HttpSender, HttpSetupError> {
        HttpSender::new(d.timeout, d.per_host)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn host_permits(&self, url: &reqwest::Url) -> Arc<Semaphore> {
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    /// Sends `req` (waiting for a slot at its host) and reads the answer. Transport failures
    /// and timeouts are transient; the answer's status is the caller's to judge.
    pub async fn execute(&self, req: reqwest::Request) -> Result<Reply, SendError> {
        let permits = self.host_permits(req.url());
        let _permit = permits
            .acquire_owned()
            .await
            .map_err(|_| SendError::transient("shutting down"))?;
        let work = async {
            let resp = self.client.execute(req).await.map_err(transport_error)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(transport_error)?;
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]).into_owned();
            Ok(Reply {
                status,
                headers,
                body,
            })
        };
        // The client's own timeout covers the request; this one also covers a stalled body.
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), work).await {
            Ok(r) => r,
            Err(_) => Err(SendError::transient(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }
}

/// A failure before an HTTP answer: transient, unless the request itself was unusable.
fn transport_error(e: reqwest::Error) -> SendError {
    let e = e.without_url();
    if e.is_builder() {
        SendError::Permanent(format!("invalid request: {e}"))
    } else if e.is_timeout() {
        SendError::transient(format!("timed out: {e}"))
    } else {
        SendError::transient(format!("connection failed: {e}"))
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.timestamp().max(0) as u64);
    Some(at.duration_since(now).unwrap_or_default())
}

pub fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        )
}

/// The failure an unsuccessful answer stands for; `what` names the service.
pub fn status_error(what: &str, reply: &Reply) -> SendError {
    let message = format!("{what} answered {}{}", reply.status, snippet(&reply.body));
    if is_transient_status(reply.status) {
        SendError::Transient {
            message,
            retry_after: retry_after(&reply.headers, SystemClock::system_time()),
        }
    } else {
        SendError::Permanent(message)
    }
}

/// The start of an answer's body, on one line, for error texts.
pub fn snippet(body: &str) -> String {
    let one_line: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if one_line.is_empty() {
        String::new()
    } else {
        format!(": {one_line}")
    }
}

/// What became of a message at one of the recipient's contacts.
#[derive(Debug)]
pub enum ContactResult {
    Sent,
    Gone(String),
    Failed(SendError),
}

/// One result for a message sent to each of a recipient's contacts: delivered when any
/// contact got it (a transient failure elsewhere is logged, not retried, so nobody gets it
/// twice); otherwise transient when any failure was, else permanent. Gone contacts are
/// reported either way.
pub fn combine(channel: &str, results: Vec<(Contact, ContactResult)>) -> Delivery {
    let mut gone = vec![];
    let mut sent = 0;
    let mut transient: Option<(String, Option<Duration>)> = None;
    let mut permanent: Vec<String> = vec![];
    let total = results.len();
    for (i, (contact, r)) in results.into_iter().enumerate() {
        match r {
            ContactResult::Sent => sent += 1,
            ContactResult::Gone(reason) => {
                permanent.push(format!("contact {} gone: {reason}", i + 1));
                gone.push(GoneContact { contact, reason });
            }
            ContactResult::Failed(SendError::Permanent(m)) => {
                permanent.push(format!("contact {}: {m}", i + 1))
            }
            ContactResult::Failed(SendError::Transient {
                message,
                retry_after,
            }) => {
                let message = format!("contact {}: {message}", i + 1);
                transient = Some(match transient {
                    None => (message, retry_after),
                    Some((m, ra)) => (format!("{m}; {message}"), ra.max(retry_after)),
                });
            }
        }
    }
    let result = if total == 0 {
        Err(SendError::Permanent(format!("no {channel} contact")))
    } else if sent > 0 {
        if let Some((m, _)) = &transient {
            tracing::warn!(
                channel,
                sent,
                "delivered to some contacts only; not retried: {m}"
            );
        }
        Ok(())
    } else if let Some((message, retry_after)) = transient {
        Err(SendError::Transient {
            message,
            retry_after,
        })
    } else {
        Err(SendError::Permanent(permanent.join("; ")))
    };
    Delivery { result, gone }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, SystemClock::system_time()), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(
            retry_after(&h, SystemClock::system_time()),
            Some(Duration::from_secs(120))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 60);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(60)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn statuses_split_into_transient_and_permanent() {
        for s in [408, 425, 429, 500, 502, 503] {
            assert!(is_transient_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413] {
            assert!(
                !is_transient_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn one_delivered_contact_is_enough() {
        let c = |s: &str| Contact::Ntfy(s.into());
        let d = combine(
            "ntfy",
            vec![
                (c("a"), ContactResult::Gone("410".into())),
                (c("b"), ContactResult::Sent),
                (c("c"), ContactResult::Failed(SendError::transient("503"))),
            ],
        );
        assert!(d.result.is_ok());
        assert_eq!(d.gone.len(), 1);
        let d = combine(
            "ntfy",
            vec![
                (c("a"), ContactResult::Gone("410".into())),
                (
                    c("c"),
                    ContactResult::Failed(SendError::Transient {
                        message: "429".into(),
                        retry_after: Some(Duration::from_secs(9)),
                    }),
                ),
            ],
        );
        assert!(matches!(
            d.result,
            Err(SendError::Transient { retry_after: Some(d), .. }) if d == Duration::from_secs(9)
        ));
        let d = combine("ntfy", vec![(c("a"), ContactResult::Gone("410".into()))]);
        assert!(matches!(d.result, Err(SendError::Permanent(m)) if m.contains("gone")));
        assert!(combine("ntfy", vec![]).result.is_err());
    }
}
