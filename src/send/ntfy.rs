//! ntfy (ntfy.sh or a school's own server): `POST` of the notification body to the contact's
//! topic URL, with `Title`, `Priority` and `Tags` headers (non-ASCII text RFC 2047-encoded,
//! which ntfy decodes), and `Authorization: Bearer` when `[ntfy] token_file` is set.
//!
//! ntfy has no idempotency key: a message sent again after a crash between the send and the
//! commit shows twice. 404/410 mark the contact gone (no such topic or server path); 429 and
//! 5xx are transient; other answers (401/403: the token) are permanent.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;

use super::http::{combine, status_error, ContactResult, HttpSender};
use super::{Channel, Delivery, Outgoing, SendError};
use crate::config::NtfyConfig;
use crate::model::Contact;

#[derive(Debug, thiserror::Error)]
#[error("ntfy.token_file {path}: {source}")]
pub struct NtfyError {
    path: PathBuf,
    source: std::io::Error,
}

pub struct NtfyChannel {
    token: Option<String>,
    priority: u8,
    tags: Vec<String>,
    http: Arc<HttpSender>,
}

impl NtfyChannel {
    pub fn new(cfg: &NtfyConfig, http: Arc<HttpSender>) -> Result<NtfyChannel, NtfyError> {
        let token = match &cfg.token_file {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| NtfyError {
                        path: path.clone(),
                        source,
                    })?
                    .trim()
                    .to_string(),
            ),
        };
        Ok(NtfyChannel {
            token,
            priority: cfg.priority,
            tags: cfg.tags.clone(),
            http,
        })
    }

    /// The request for one topic URL.
    pub fn request(&self, msg: &Outgoing, url: &str) -> Result<reqwest::Request, SendError> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or_else(|| SendError::Permanent("the ntfy contact is not an http(s) URL".into()))?;
        let mut tags: Vec<&str> = msg.kinds();
        tags.extend(self.tags.iter().map(String::as_str));
        let mut b = self
            .http
            .client()
            .post(parsed)
            .header("Title", header_text(&msg.content.title))
            .header("Priority", self.priority.to_string())
            .header("Tags", tags.join(","))
            .header("X-Rustig-Key", &msg.key)
            .body(msg.content.body.clone());
        if let Some(t) = &self.token {
            b = b.bearer_auth(t);
        }
        b.build()
            .map_err(|e| SendError::Permanent(format!("ntfy request: {}", e.without_url())))
    }

    async fn send_one(&self, msg: &Outgoing, url: &str) -> ContactResult {
        let req = match self.request(msg, url) {
            Ok(r) => r,
            Err(e) => return ContactResult::Failed(e),
        };
        match self.http.execute(req).await {
            Err(e) => ContactResult::Failed(e),
            Ok(r) if r.status.is_success() => ContactResult::Sent,
            Ok(r) if matches!(r.status.as_u16(), 404 | 410) => {
                ContactResult::Gone(format!("ntfy answered {}", r.status))
            }
            Ok(r) => ContactResult::Failed(status_error("ntfy", &r)),
        }
    }
}

/// ASCII as is; anything else as an RFC 2047 encoded word.
fn header_text(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.is_ascii() {
        s
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        )
    }
}

#[async_trait]
impl Channel for NtfyChannel {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.deliver(msg).await.result
    }

    async fn deliver(&self, msg: &Outgoing) -> Delivery {
        let mut results = Vec::with_capacity(msg.contacts.len());
        for c in &msg.contacts {
            if let Contact::Ntfy(url) = c {
                results.push((c.clone(), self.send_one(msg, url).await));
            }
        }
        combine("ntfy", results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_titles_are_encoded_words() {
        assert_eq!(header_text("Nieuw cijfer"), "Nieuw cijfer");
        assert_eq!(header_text("Zoë"), "=?UTF-8?B?Wm/Dqw==?=");
        assert_eq!(header_text("a\nb"), "a b");
    }
}
