//! Web Push (RFC 8030): the payload encrypted with `aes128gcm` (RFC 8291, by
//! `web-push-native`) and a VAPID token (RFC 8292) per request, posted to each of the
//! recipient's subscriptions.
//!
//! Headers: `TTL` (how long the push service keeps an undelivered message), `Urgency`, and
//! `Topic`, derived from the message's records: a newer message about the same record
//! replaces an older one the push service still holds. The payload is JSON
//! `{"title", "body", "tag", "key"}`; a service worker that shows it with `tag` as the
//! notification tag also replaces a displayed older one.
//!
//! The VAPID token is signed here rather than by `web-push-native`, because its audience
//! must be the endpoint's origin including a non-default port, and its lifetime (at most
//! 24 hours by RFC 8292) must not follow the message's TTL.
//!
//! Answers: 2xx delivered; 404 and 410 mean the subscription is gone (the contact is marked
//! and skipped from then on); 429 and 5xx are transient; anything else is permanent.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use web_push_native::jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair,
};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::p256::PublicKey;
use web_push_native::{Auth, WebPushBuilder};

use super::http::{combine, status_error, ContactResult, HttpSender};
use super::{Channel, Delivery, Outgoing, SendError};
use crate::config::WebPushConfig;
use crate::model::contact::decode_base64url;
use crate::model::directory::WebPushSubscription;
use crate::model::Contact;

/// RFC 8291 allows 4096 bytes per record; the header and padding leave this much payload.
const MAX_PAYLOAD: usize = 3993;

/// Well within RFC 8292's 24 hours, so clock skew at the push service does not matter.
const VAPID_LIFETIME_HOURS: u64 = 12;

#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    #[error("webpush.vapid_private_key_file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("webpush.vapid_private_key_file {path}: not a P-256 private key (expected the line `rustig vapid-keygen` prints, or a PEM): {reason}")]
    Key { path: PathBuf, reason: String },
}

/// A new VAPID key pair: (private key, public key), both base64url without padding. The
/// public key is what browsers pass as `applicationServerKey` when they subscribe.
pub fn generate_vapid_keys() -> (String, String) {
    let kp = ES256KeyPair::generate();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (
        b64.encode(kp.to_bytes()),
        b64.encode(kp.public_key().public_key().to_bytes_uncompressed()),
    )
}

/// Reads a VAPID private key: a base64url line of the 32-byte scalar (`#` lines are
/// comments), or a PEM.
pub fn parse_vapid_key(text: &str) -> Result<ES256KeyPair, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return ES256KeyPair::from_pem(text).map_err(|e| e.to_string());
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let bytes = decode_base64url(line).ok_or("not base64url")?;
    ES256KeyPair::from_bytes(&bytes).map_err(|e| e.to_string())
}

pub struct WebPushChannel {
    key: ES256KeyPair,
    /// `k=` of the Authorization header: the public key, base64url.
    public_key: String,
    subject: String,
    ttl: std::time::Duration,
    urgency: &'static str,
    http: Arc<HttpSender>,
}

impl WebPushChannel {
    pub fn new(cfg: &WebPushConfig, http: Arc<HttpSender>) -> Result<WebPushChannel, WebPushError> {
        let path = &cfg.vapid_private_key_file;
        let text = std::fs::read_to_string(path).map_err(|source| WebPushError::KeyFile {
            path: path.clone(),
            source,
        })?;
        let key = parse_vapid_key(&text).map_err(|reason| WebPushError::Key {
            path: path.clone(),
            reason,
        })?;
        Ok(WebPushChannel::with_key(key, cfg, http))
    }

    pub fn with_key(key: ES256KeyPair, cfg: &WebPushConfig, http: Arc<HttpSender>) -> Self {
        let public_key = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(key.public_key().public_key().to_bytes_uncompressed());
        WebPushChannel {
            key,
            public_key,
            subject: cfg.subject.clone(),
            ttl: cfg.ttl,
            urgency: cfg.urgency.as_str(),
            http,
        }
    }

    /// The encrypted, signed request for one subscription.
    pub fn request(
        &self,
        msg: &Outgoing,
        sub: &WebPushSubscription,
    ) -> Result<reqwest::Request, SendError> {
        let bad = |what: &str| SendError::Permanent(format!("subscription: {what}"));
        let url = reqwest::Url::parse(&sub.endpoint).map_err(|_| bad("invalid endpoint URL"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(bad("the endpoint is not an http(s) URL"));
        }
        let uri: http::Uri = sub
            .endpoint
            .parse()
            .map_err(|_| bad("invalid endpoint URL"))?;
        let p256dh = decode_base64url(&sub.keys.p256dh)
            .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
            .ok_or_else(|| bad("keys.p256dh is not a P-256 public key"))?;
        let auth = decode_base64url(&sub.keys.auth)
            .filter(|b| b.len() == 16)
            .ok_or_else(|| bad("keys.auth is not 16 bytes of base64url"))?;
        let payload = payload(msg);
        let built = WebPushBuilder::new(uri, p256dh, Auth::clone_from_slice(&auth))
            .with_valid_duration(self.ttl)
            .build(payload)
            .map_err(|e| SendError::Permanent(format!("encrypting the payload: {e}")))?;
        let mut req = reqwest::Request::try_from(built)
            .map_err(|e| SendError::Permanent(format!("building the request: {e}")))?;
        let origin = url.origin().ascii_serialization();
        let claims = Claims::create(web_push_native::jwt_simple::prelude::Duration::from_hours(
            VAPID_LIFETIME_HOURS,
        ))
        .with_audience(origin)
        .with_subject(&self.subject);
        let token = self
            .key
            .sign(claims)
            .map_err(|e| SendError::Permanent(format!("signing the VAPID token: {e}")))?;
        let h = req.headers_mut();
        let value = |s: String| {
            http::HeaderValue::from_str(&s)
                .map_err(|_| SendError::Permanent("header value is not ASCII".into()))
        };
        h.insert("ttl", value(self.ttl.as_secs().to_string())?);
        h.insert("urgency", http::HeaderValue::from_static(self.urgency));
        h.insert("topic", value(msg.topic())?);
        h.insert(
            http::header::AUTHORIZATION,
            value(format!("vapid t={token}, k={}", self.public_key))?,
        );
        Ok(req)
    }

    async fn send_one(&self, msg: &Outgoing, sub: &WebPushSubscription) -> ContactResult {
        let req = match self.request(msg, sub) {
            Ok(r) => r,
            Err(e) => return ContactResult::Failed(e),
        };
        match self.http.execute(req).await {
            Err(e) => ContactResult::Failed(e),
            Ok(reply) if reply.status.is_success() => ContactResult::Sent,
            Ok(reply) if matches!(reply.status.as_u16(), 404 | 410) => {
                ContactResult::Gone(format!("push service answered {}", reply.status))
            }
            Ok(reply) => ContactResult::Failed(status_error("push service", &reply)),
        }
    }
}

/// The notification as JSON, its body shortened until the encrypted record fits.
fn payload(msg: &Outgoing) -> Vec<u8> {
    let mut body = msg.content.body.clone();
    loop {
        let json = serde_json::json!({
            "title": msg.content.title,
            "body": body,
            "tag": msg.topic(),
            "key": msg.key,
        })
        .to_string();
        if json.len() <= MAX_PAYLOAD || body.is_empty() {
            return json.into_bytes();
        }
        let excess = json.len() - MAX_PAYLOAD + '…'.len_utf8();
        if body.ends_with('…') {
            body.pop();
        }
        let mut removed = 0;
        while removed < excess {
            match body.pop() {
                Some(c) => removed += c.len_utf8(),
                None => break,
            }
        }
        if !body.is_empty() {
            body.push('…');
        }
    }
}

#[async_trait]
impl Channel for WebPushChannel {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.deliver(msg).await.result
    }

    async fn deliver(&self, msg: &Outgoing) -> Delivery {
        let mut results = Vec::with_capacity(msg.contacts.len());
        for c in &msg.contacts {
            if let Contact::Webpush(sub) = c {
                results.push((c.clone(), self.send_one(msg, sub).await));
            }
        }
        combine("webpush", results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let (private, public) = generate_vapid_keys();
        let kp = parse_vapid_key(&format!("{private}\n")).unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(
            b64.encode(kp.public_key().public_key().to_bytes_uncompressed()),
            public
        );
        assert_eq!(b64.decode(&public).unwrap().len(), 65);
        let pem = kp.to_pem().unwrap();
        assert!(parse_vapid_key(&pem).is_ok());
        assert!(parse_vapid_key("not a key").is_err());
    }

    #[test]
    fn long_bodies_are_shortened_to_fit() {
        let msg = Outgoing {
            key: "k".into(),
            school: "s".into(),
            recipient: "r".into(),
            recipient_name: String::new(),
            role: crate::model::Role::Student,
            channel: crate::model::ChannelKind::Webpush,
            contacts: vec![],
            locale: crate::model::Locale::Nl,
            content: super::super::Rendered {
                title: "t".into(),
                body: "é".repeat(5000),
                ..Default::default()
            },
            notices: vec![],
        };
        let p = payload(&msg);
        assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert!(v["body"].as_str().unwrap().ends_with('…'));
    }
}
