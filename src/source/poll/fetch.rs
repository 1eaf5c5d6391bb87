//! Fetch failures and how a poller reacts to them, and the HTTP call the pollers share.
//!
//! Error texts name the endpoint and the status, never an answer's body: SIS answers carry
//! data about minors.

use std::time::Duration;

use reqwest::StatusCode;

use crate::clock::SystemClock;
use crate::send::http::{is_transient_status, retry_after};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Worth another try later: 5xx, 408, 429, timeouts, lost connections. `retry_after`
    /// when the server said when.
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The SIS refused the credentials (401, also after a fresh token). A 403 (the school did
    /// not grant this) is permanent for the request, not a credentials problem.
    #[error("{0}")]
    Unauthorized(String),
    /// Retrying the same request will not help (a 4xx, a misconfigured address).
    #[error("{0}")]
    Permanent(String),
}

impl FetchError {
    pub fn transient(message: impl Into<String>) -> FetchError {
        FetchError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Maps a non-success answer to the failure it stands for; `what` names the endpoint.
pub fn status_error(
    what: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> FetchError {
    let message = format!("{what} answered {status}");
    if status == StatusCode::UNAUTHORIZED {
        FetchError::Unauthorized(message)
    } else if is_transient_status(status) {
        FetchError::Transient {
            message,
            retry_after: retry_after(headers, SystemClock::system_time()),
        }
    } else {
        FetchError::Permanent(message)
    }
}

/// A request that did not get an answer.
pub fn request_error(what: &str, e: &reqwest::Error) -> FetchError {
    if e.is_builder() {
        FetchError::Permanent(format!("{what}: invalid request: {e}"))
    } else if e.is_timeout() {
        FetchError::transient(format!("{what}: timed out"))
    } else {
        FetchError::transient(format!("{what}: {}", without_url(e)))
    }
}

/// reqwest's message without the URL (it may carry a token or an access code as a query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "…");
    }
    s
}

/// GETs `url` (with a bearer token when given) and returns the body of a 2xx answer.
pub async fn get(
    client: &reqwest::Client,
    what: &str,
    url: &str,
    bearer: Option<&str>,
) -> Result<Vec<u8>, FetchError> {
    let mut req = client.get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| request_error(what, &e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(status_error(what, status, resp.headers()));
    }
    let body = resp.bytes().await.map_err(|e| request_error(what, &e))?;
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn answers_map_to_what_a_poller_should_do() {
        let none = HeaderMap::new();
        let s = |c: u16| StatusCode::from_u16(c).unwrap();
        assert!(matches!(
            status_error("x", s(401), &none),
            FetchError::Unauthorized(_)
        ));
        assert!(matches!(
            status_error("x", s(403), &none),
            FetchError::Permanent(_)
        ));
        assert!(matches!(
            status_error("x", s(404), &none),
            FetchError::Permanent(_)
        ));
        assert!(matches!(
            status_error("x", s(500), &none),
            FetchError::Transient {
                retry_after: None,
                ..
            }
        ));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = status_error("voortgangsdossier", s(429), &h);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            e.to_string(),
            "voortgangsdossier answered 429 Too Many Requests"
        );
    }
}
