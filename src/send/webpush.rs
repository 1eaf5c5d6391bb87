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
//! The VAPID token (an ES256 JWT, signed with the `p256` crate's constant-time ECDSA) is made
//! here rather than by `web-push-native`, because its audience must be the endpoint's origin
//! including a non-default port, and its lifetime (at most 24 hours by RFC 8292) must not
//! follow the message's TTL. (web-push-native's own VAPID support would also bring in the
//! `rsa` crate, which has a timing side channel: RUSTSEC-2023-0071.)
//!
//! Answers: 2xx delivered; 404 and 410 mean the subscription is gone (the contact is marked
//! and skipped from then on); 429 and 5xx are transient; anything else is permanent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use web_push_native::p256::ecdsa::signature::Signer;
use web_push_native::p256::ecdsa::{Signature, SigningKey};
use web_push_native::p256::elliptic_curve::rand_core::OsRng;
use web_push_native::p256::pkcs8::DecodePrivateKey;
use web_push_native::p256::{PublicKey, SecretKey};
use web_push_native::{Auth, WebPushBuilder};

use super::http::{combine, status_error, ContactResult, HttpSender};
use super::{Channel, Delivery, Outgoing, SendError};
use crate::clock::SystemClock;
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
    let key = SigningKey::random(&mut OsRng);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    (
        b64.encode(key.to_bytes()),
        b64.encode(public_key_bytes(&key)),
    )
}

/// The uncompressed public point, 65 bytes, as browsers expect `applicationServerKey`.
fn public_key_bytes(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

/// Reads a VAPID private key: a base64url line of the 32-byte scalar (`#` lines are
/// comments), or a PEM (PKCS#8 "BEGIN PRIVATE KEY" or SEC1 "BEGIN EC PRIVATE KEY").
pub fn parse_vapid_key(text: &str) -> Result<SigningKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN EC PRIVATE KEY") {
        return SecretKey::from_sec1_pem(text)
            .map(SigningKey::from)
            .map_err(|e| e.to_string());
    }
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text).map_err(|e| e.to_string());
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let bytes = decode_base64url(line).ok_or("not base64url")?;
    SigningKey::from_slice(&bytes).map_err(|e| e.to_string())
}

/// An ES256 JWT (RFC 7515/7519) with the VAPID claims of RFC 8292 §2.
fn vapid_token(key: &SigningKey, audience: &str, subject: &str, now: SystemTime) -> String {
    let exp =
        now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + VAPID_LIFETIME_HOURS * 3600;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256"});
    let claims = serde_json::json!({"aud": audience, "exp": exp, "sub": subject});
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let signature: Signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64.encode(signature.to_bytes()))
}

pub struct WebPushChannel {
    key: SigningKey,
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

    pub fn with_key(key: SigningKey, cfg: &WebPushConfig, http: Arc<HttpSender>) -> Self {
        let public_key =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public_key_bytes(&key));
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
        let token = vapid_token(
            &self.key,
            &origin,
            &self.subject,
            SystemClock::system_time(),
        );
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
        let key = parse_vapid_key(&format!("{private}\n")).unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(b64.encode(public_key_bytes(&key)), public);
        assert_eq!(b64.decode(&public).unwrap().len(), 65);
        use web_push_native::p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_vapid_key(&pem).unwrap(), key);
        let sec1 = SecretKey::from(&key).to_sec1_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_vapid_key(&sec1).unwrap(), key);
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
            settings_url: None,
            unsubscribe_url: None,
        };
        let p = payload(&msg);
        assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert!(v["body"].as_str().unwrap().ends_with('…'));
    }
}
