//! SOMtoday Connect over HTTP: the OAuth2 client-credentials token (kept until shortly
//! before it expires, fetched again on a 401), `offset`/`amount` paging, and the calls
//! rustig makes. Field names are those of the Connect OpenAPI document (14.10.0).

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::sis::SomtodayConfig;
use crate::source::poll::fetch::{self, request_error, status_error, FetchError};

/// A token is renewed this long before its `expires_in` runs out.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub struct Api {
    cfg: SomtodayConfig,
    secret: String,
    client: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
    /// Token requests made (for tests and health).
    pub tokens_fetched: std::sync::atomic::AtomicU64,
}

impl Api {
    pub fn new(cfg: &SomtodayConfig, secret: String) -> Result<Api, String> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Api {
            cfg: cfg.clone(),
            secret,
            client,
            token: Mutex::new(None),
            tokens_fetched: Default::default(),
        })
    }

    /// The cached token, or a new one when there is none, it is about to expire, or the
    /// last one was refused.
    async fn token(&self, fresh: bool) -> Result<String, FetchError> {
        let mut slot = self.token.lock().await;
        if let Some((t, until)) = slot.as_ref() {
            if !fresh && Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let what = "SOMtoday token";
        let url = format!(
            "{}?organisation={}",
            self.cfg.token_url,
            urlencode(&self.cfg.organisation)
        );
        let resp = self
            .client
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.cfg.client_id.as_str()),
                ("client_secret", self.secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| request_error(what, &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status_error(what, status, resp.headers()) {
                // A refused client is a configuration problem, not a passing one.
                FetchError::Permanent(m) | FetchError::Unauthorized(m) => FetchError::Unauthorized(
                    format!("{m}: check client_id, client_secret_file and organisation"),
                ),
                other => other,
            });
        }
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| FetchError::transient(format!("{what}: unreadable answer: {e}")))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        self.tokens_fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }

    /// GETs a Connect path (after `/connect/vestiging/{vestiging}`); a 401 gets one retry
    /// with a fresh token.
    pub async fn get(&self, what: &str, path: &str) -> Result<Vec<u8>, FetchError> {
        let url = format!(
            "{}/connect/vestiging/{}{path}",
            self.cfg.api_url, self.cfg.vestiging
        );
        let token = self.token(false).await?;
        match fetch::get(&self.client, what, &url, Some(&token)).await {
            Err(FetchError::Unauthorized(_)) => {
                let token = self.token(true).await?;
                fetch::get(&self.client, what, &url, Some(&token)).await
            }
            other => other,
        }
    }

    /// Every item of a paged list (`field` of each page, or the page itself when `field` is
    /// empty), page by page until one comes back short. Each item stays a JSON value so that one broken item does not lose the others.
    pub async fn pages(
        &self,
        what: &str,
        path: &str,
        field: &str,
    ) -> Result<Vec<Value>, FetchError> {
        let amount = self.cfg.page_size as usize;
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut offset = 0usize;
        loop {
            let body = self
                .get(what, &format!("{path}{sep}offset={offset}&amount={amount}"))
                .await?;
            let page: Value = serde_json::from_slice(&body).map_err(|e| {
                FetchError::Permanent(format!(
                    "{what}: the answer at offset {offset} is not JSON: {e}"
                ))
            })?;
            let list = if field.is_empty() {
                Some(&page)
            } else {
                page.get(field)
            };
            let items = match list {
                Some(Value::Array(a)) => a.clone(),
                None | Some(Value::Null) => vec![],
                Some(_) => {
                    return Err(FetchError::Permanent(format!(
                        "{what}: `{field}` is not a list at offset {offset}"
                    )))
                }
            };
            let n = items.len();
            out.extend(items);
            if n < amount {
                return Ok(out);
            }
            offset += n;
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
