//! Firebase Cloud Messaging, HTTP v1 API.
//!
//! Authentication: an OAuth2 access token for the service account, obtained by posting a
//! JWT signed with the account's RSA key (RS256) to the account's `token_uri` (RFC 7523),
//! cached and refreshed five minutes before it expires. One refresh at a time. The signature
//! is ring's constant-time RSA (the `rsa` crate has a timing side channel, RUSTSEC-2023-0071).
//!
//! Each device token gets `POST {base_url}/v1/projects/{project_id}/messages:send` with the
//! notification title and body; `android.collapse_key`, `android.notification.tag`,
//! `apns-collapse-id` and the web push `Topic` are the message's topic (from its records),
//! so a newer message about a record replaces an older one; `ttl` from the config.
//!
//! Errors as FCM reports them (`details[].errorCode`): `UNREGISTERED`, `SENDER_ID_MISMATCH`
//! and an `INVALID_ARGUMENT` about the registration token mean the token is gone; other
//! `INVALID_ARGUMENT`s are permanent; `QUOTA_EXCEEDED`, `UNAVAILABLE` and `INTERNAL` are
//! transient (with `Retry-After`); a rejected access token is dropped and retried later.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::http::{combine, retry_after, snippet, status_error, ContactResult, HttpSender, Reply};
use super::{Channel, Delivery, Outgoing, SendError};
use crate::clock::SystemClock;
use crate::config::FcmConfig;
use crate::model::Contact;

/// The OAuth2 scope for sending messages.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// An access token is refreshed when less than this is left of it.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("fcm.service_account_file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fcm.service_account_file {path}: {reason}")]
    Account { path: PathBuf, reason: String },
}

/// The account's RSA key from its PEM: PKCS#8 ("BEGIN PRIVATE KEY", as Google issues them) or
/// PKCS#1 ("BEGIN RSA PRIVATE KEY").
fn rsa_key(pem: &str) -> Result<RsaKeyPair, String> {
    let bad = |e: &dyn std::fmt::Display| format!("private_key is not an RSA key in PEM: {e}");
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(&e))?;
    match &der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err(bad(&"an EC key, expected RSA")),
    }
    .map_err(|e| bad(&e))
}

/// The fields of a Google service-account JSON that rustig uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

struct Token {
    value: String,
    refresh_at: Instant,
}

pub struct FcmChannel {
    account: ServiceAccount,
    key: RsaKeyPair,
    rng: SystemRandom,
    send_url: String,
    ttl: Duration,
    http: Arc<HttpSender>,
    token: Mutex<Option<Token>>,
}

impl FcmChannel {
    pub fn new(cfg: &FcmConfig, http: Arc<HttpSender>) -> Result<FcmChannel, FcmError> {
        let path = &cfg.service_account_file;
        let text = std::fs::read_to_string(path).map_err(|source| FcmError::File {
            path: path.clone(),
            source,
        })?;
        let account: ServiceAccount =
            serde_json::from_str(&text).map_err(|e| FcmError::Account {
                path: path.clone(),
                reason: format!("not a service-account JSON: {e}"),
            })?;
        FcmChannel::with_account(account, cfg, http).map_err(|reason| FcmError::Account {
            path: path.clone(),
            reason,
        })
    }

    pub fn with_account(
        account: ServiceAccount,
        cfg: &FcmConfig,
        http: Arc<HttpSender>,
    ) -> Result<FcmChannel, String> {
        let key = rsa_key(account.private_key.trim())?;
        if account.project_id.is_empty() || account.client_email.is_empty() {
            return Err("project_id and client_email must not be empty".into());
        }
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            cfg.base_url.trim_end_matches('/'),
            account.project_id
        );
        Ok(FcmChannel {
            account,
            key,
            rng: SystemRandom::new(),
            send_url,
            ttl: cfg.ttl,
            http,
            token: Mutex::new(None),
        })
    }

    /// The signed assertion exchanged for an access token (RFC 7523 §2.1).
    pub fn assertion(&self, now: SystemTime) -> String {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.account.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": iat,
            "exp": iat + 3600,
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("the buffer has the modulus length and the system has randomness");
        format!("{signing_input}.{}", b64.encode(signature))
    }

    /// A valid access token: the cached one, or a fresh one.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let body = format!(
            "grant_type={}&assertion={}",
            GRANT_TYPE.replace(':', "%3A"),
            self.assertion(SystemClock::system_time())
        );
        let req = self
            .http
            .client()
            .post(&self.account.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .build()
            .map_err(|e| SendError::Permanent(format!("FCM token request: {}", e.without_url())))?;
        let reply = self.http.execute(req).await?;
        if !reply.status.is_success() {
            return Err(if super::http::is_transient_status(reply.status) {
                status_error("the OAuth2 token endpoint", &reply)
            } else {
                SendError::Permanent(format!(
                    "the OAuth2 token endpoint refused the service account: {}{}",
                    reply.status,
                    snippet(&reply.body)
                ))
            });
        }
        #[derive(Deserialize)]
        struct TokenReply {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenReply = serde_json::from_str(&reply.body).map_err(|e| {
            SendError::transient(format!("the OAuth2 token endpoint sent no token: {e}"))
        })?;
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
        *cached = Some(Token {
            value: t.access_token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        });
        Ok(t.access_token)
    }

    /// The `message` document for one device token.
    pub fn message(&self, msg: &Outgoing, token: &str) -> Value {
        let topic = msg.topic();
        let ttl = self.ttl.as_secs();
        let expires = SystemClock::system_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + ttl;
        json!({
            "message": {
                "token": token,
                "notification": {"title": msg.content.title, "body": msg.content.body},
                "data": {"key": msg.key, "topic": topic},
                "android": {
                    "collapse_key": topic,
                    "ttl": format!("{ttl}s"),
                    "notification": {"tag": topic},
                },
                "apns": {"headers": {
                    "apns-collapse-id": topic,
                    "apns-expiration": expires.to_string(),
                }},
                "webpush": {"headers": {"TTL": ttl.to_string(), "Topic": topic}},
            }
        })
    }

    async fn send_one(&self, msg: &Outgoing, token: &str) -> ContactResult {
        let access = match self.access_token().await {
            Ok(t) => t,
            Err(e) => return ContactResult::Failed(e),
        };
        let req = match self
            .http
            .client()
            .post(&self.send_url)
            .bearer_auth(access)
            .json(&self.message(msg, token))
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                return ContactResult::Failed(SendError::Permanent(format!(
                    "FCM request: {}",
                    e.without_url()
                )))
            }
        };
        match self.http.execute(req).await {
            Err(e) => ContactResult::Failed(e),
            Ok(reply) if reply.status.is_success() => ContactResult::Sent,
            Ok(reply) => {
                if reply.status == reqwest::StatusCode::UNAUTHORIZED {
                    // Our access token was refused (revoked or expired early): get another.
                    *self.token.lock().await = None;
                }
                classify(&reply)
            }
        }
    }
}

/// Reads an FCM error answer.
pub fn classify(reply: &Reply) -> ContactResult {
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let error = &v["error"];
    let status = error["status"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("");
    let code = error["details"]
        .as_array()
        .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
        .unwrap_or(status);
    let text = format!("FCM answered {} {code}: {message}", reply.status.as_u16());
    match code {
        "UNREGISTERED" | "SENDER_ID_MISMATCH" => ContactResult::Gone(text),
        "INVALID_ARGUMENT" if message.to_ascii_lowercase().contains("registration token") => {
            ContactResult::Gone(text)
        }
        "INVALID_ARGUMENT" | "THIRD_PARTY_AUTH_ERROR" | "PERMISSION_DENIED" | "NOT_FOUND" => {
            ContactResult::Failed(SendError::Permanent(text))
        }
        "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" | "UNAUTHENTICATED" => {
            ContactResult::Failed(SendError::Transient {
                message: text,
                retry_after: retry_after(&reply.headers, SystemClock::system_time()),
            })
        }
        _ if reply.status == reqwest::StatusCode::UNAUTHORIZED => {
            ContactResult::Failed(SendError::transient(text))
        }
        _ => ContactResult::Failed(status_error("FCM", reply)),
    }
}

#[async_trait]
impl Channel for FcmChannel {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.deliver(msg).await.result
    }

    async fn deliver(&self, msg: &Outgoing) -> Delivery {
        let mut results = Vec::with_capacity(msg.contacts.len());
        for c in &msg.contacts {
            if let Contact::Fcm(token) = c {
                results.push((c.clone(), self.send_one(msg, token).await));
            }
        }
        combine("fcm", results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use reqwest::StatusCode;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    fn fcm_error(code: u16, status: &str, message: &str, error_code: &str) -> String {
        json!({"error": {"code": code, "message": message, "status": status, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
        ]}})
        .to_string()
    }

    #[test]
    fn fcm_errors_are_classified() {
        let gone = fcm_error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            "UNREGISTERED",
        );
        assert!(matches!(
            classify(&reply(404, &gone)),
            ContactResult::Gone(_)
        ));
        let bad_token = fcm_error(
            400,
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
            "INVALID_ARGUMENT",
        );
        assert!(matches!(
            classify(&reply(400, &bad_token)),
            ContactResult::Gone(_)
        ));
        let bad_msg = fcm_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'message.android.ttl'",
            "INVALID_ARGUMENT",
        );
        assert!(matches!(
            classify(&reply(400, &bad_msg)),
            ContactResult::Failed(SendError::Permanent(_))
        ));
        let quota = fcm_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            "QUOTA_EXCEEDED",
        );
        assert!(matches!(
            classify(&reply(429, &quota)),
            ContactResult::Failed(SendError::Transient { .. })
        ));
        assert!(matches!(
            classify(&reply(503, "<html>busy</html>")),
            ContactResult::Failed(SendError::Transient { .. })
        ));
        assert!(matches!(
            classify(&reply(401, "{}")),
            ContactResult::Failed(SendError::Transient { .. })
        ));
    }
}
