//! Signed webhooks for a school's own app: `POST` of a JSON document (the message, its
//! notices, the student and recipient ids) to the contact's URL.
//!
//! Headers:
//! - `X-Rustig-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the
//!   receiver recomputes it over the raw body with the shared secret (`[webhook]
//!   secret_file`), compares in constant time, and rejects old timestamps (replays);
//! - `Idempotency-Key` (and `X-Rustig-Key`): the message key. A message sent again after a
//!   crash between the send and the commit carries the same key and the same document
//!   (only `t` and `sent_at` differ), so a receiver that remembers keys shows it once.
//!
//! Answers: 2xx delivered; 410 marks the contact gone; 408, 425, 429 and 5xx are transient
//! (`Retry-After` honoured); any other answer is permanent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::http::{combine, status_error, ContactResult, HttpSender};
use super::{Channel, Delivery, Outgoing, SendError};
use crate::clock::{Clock, SystemClock};
use crate::config::WebhookConfig;
use crate::model::Contact;

pub const SIGNATURE_HEADER: &str = "X-Rustig-Signature";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook.secret_file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("webhook.secret_file {path}: the secret is empty")]
    Empty { path: PathBuf },
}

pub struct WebhookChannel {
    secret: Vec<u8>,
    http: Arc<HttpSender>,
}

/// `t=…,v1=…` for a body sent at `t` (unix seconds).
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON document for a message.
pub fn document(msg: &Outgoing) -> serde_json::Value {
    let mut students: Vec<&str> = Vec::new();
    for n in &msg.notices {
        if !students.contains(&n.student.as_str()) {
            students.push(&n.student);
        }
    }
    let mut doc = json!({
        "type": "rustig.message",
        "version": 1,
        "key": msg.key,
        "school": msg.school,
        "recipient": {"id": msg.recipient, "role": msg.role.as_str()},
        "students": students,
        "locale": msg.locale,
        "sent_at": SystemClock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "message": {
            "subject": msg.content.subject,
            "text": msg.content.text,
            "html": msg.content.html,
            "title": msg.content.title,
            "body": msg.content.body,
        },
        "notices": msg.notices,
    });
    // The recipient's own preference page ("Berichtinstellingen / Message settings").
    if let Some(url) = &msg.settings_url {
        doc["settings_url"] = json!(url);
    }
    doc
}

impl WebhookChannel {
    pub fn new(cfg: &WebhookConfig, http: Arc<HttpSender>) -> Result<WebhookChannel, WebhookError> {
        let path = &cfg.secret_file;
        let secret = std::fs::read_to_string(path)
            .map_err(|source| WebhookError::File {
                path: path.clone(),
                source,
            })?
            .trim()
            .as_bytes()
            .to_vec();
        if secret.is_empty() {
            return Err(WebhookError::Empty { path: path.clone() });
        }
        Ok(WebhookChannel::with_secret(secret, http))
    }

    pub fn with_secret(secret: Vec<u8>, http: Arc<HttpSender>) -> WebhookChannel {
        WebhookChannel { secret, http }
    }

    async fn send_one(&self, msg: &Outgoing, url: &str, body: &[u8]) -> ContactResult {
        let Some(url) = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        else {
            return ContactResult::Failed(SendError::Permanent(
                "the webhook contact is not an http(s) URL".into(),
            ));
        };
        let t = SystemClock::system_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let req = self
            .http
            .client()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &msg.key)
            .header("X-Rustig-Key", &msg.key)
            .header(SIGNATURE_HEADER, signature(&self.secret, t, body))
            .body(body.to_vec())
            .build();
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                return ContactResult::Failed(SendError::Permanent(format!(
                    "webhook request: {}",
                    e.without_url()
                )))
            }
        };
        match self.http.execute(req).await {
            Err(e) => ContactResult::Failed(e),
            Ok(r) if r.status.is_success() => ContactResult::Sent,
            Ok(r) if r.status.as_u16() == 410 => {
                ContactResult::Gone(format!("webhook answered {}", r.status))
            }
            Ok(r) => ContactResult::Failed(status_error("webhook", &r)),
        }
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.deliver(msg).await.result
    }

    async fn deliver(&self, msg: &Outgoing) -> Delivery {
        let body = document(msg).to_string().into_bytes();
        let mut results = Vec::with_capacity(msg.contacts.len());
        for c in &msg.contacts {
            if let Contact::Webhook(url) = c {
                results.push((c.clone(), self.send_one(msg, url, &body).await));
            }
        }
        combine("webhook", results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`
        assert_eq!(
            signature(b"secret", 1_700_000_000, b"{}"),
            format!(
                "t=1700000000,v1={}",
                "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
            )
        );
    }
}
