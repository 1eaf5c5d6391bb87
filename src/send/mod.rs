//! Delivery channels. A channel takes one rendered message for one recipient and hands it
//! over; it says whether a failure is worth retrying.

pub mod email;
pub mod failure_log;
pub mod fcm;
pub mod http;
pub mod ntfy;
pub mod setup;
pub mod webhook;
pub mod webpush;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{ChannelKind, Contact, Locale, Role};
use crate::policy::NoticeKind;
/// What a channel sends: the renderer's output.
pub use crate::render::Rendered;

/// One message to one recipient on one channel.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Idempotency key: the same group of notices always gives the same key. Email uses it
    /// in `Message-ID`, push as topic, webhooks in a header.
    pub key: String,
    pub school: String,
    pub recipient: String,
    pub recipient_name: String,
    pub role: Role,
    pub channel: ChannelKind,
    /// The recipient's contacts on this channel (one email message goes to all addresses).
    pub contacts: Vec<Contact>,
    pub locale: Locale,
    pub content: Rendered,
    /// The notices the message carries: webhooks send them, push derives its topic from
    /// their records.
    pub notices: Vec<OutgoingNotice>,
    /// The recipient's preference page (email and webhook, with `[preferences]`).
    pub settings_url: Option<String>,
    /// One-click unsubscribe (email's `List-Unsubscribe`, RFC 8058).
    pub unsubscribe_url: Option<String>,
}

/// One notice inside an [`Outgoing`] message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutgoingNotice {
    pub id: i64,
    pub kind: NoticeKind,
    pub event_id: String,
    pub record: String,
    pub student: String,
}

impl Outgoing {
    /// A short label (≤ 32 base64url characters) for what the message is about: the same
    /// records of a school give the same topic, so a push service or a device can let a
    /// newer message replace an older, undelivered or still displayed one.
    pub fn topic(&self) -> String {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let mut records: Vec<&str> = self.notices.iter().map(|n| n.record.as_str()).collect();
        records.sort_unstable();
        records.dedup();
        let mut h = Sha256::new();
        h.update(self.school.as_bytes());
        if records.is_empty() {
            h.update([1u8]);
            h.update(self.key.as_bytes());
        }
        for r in records {
            h.update([0u8]);
            h.update(r.as_bytes());
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..24])
    }

    /// The notice kinds in the message, each once ("grade", "absence", …).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for n in &self.notices {
            if !out.contains(&n.kind.as_str()) {
                out.push(n.kind.as_str());
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retrying cannot help (address gone, message refused).
    #[error("permanent: {0}")]
    Permanent(String),
    /// Worth another try later.
    #[error("transient: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> SendError {
        SendError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// A contact that the service says no longer exists (Web Push 404/410, FCM UNREGISTERED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneContact {
    pub contact: Contact,
    /// The service's answer, without the address or token.
    pub reason: String,
}

/// The result of a send, plus the contacts found gone on the way (also when another
/// contact of the recipient still got the message).
#[derive(Debug)]
pub struct Delivery {
    pub result: Result<(), SendError>,
    pub gone: Vec<GoneContact>,
}

#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError>;

    /// Like [`Channel::send`], also reporting gone contacts; channels that can tell
    /// override it. The scheduler calls this one.
    async fn deliver(&self, msg: &Outgoing) -> Delivery {
        Delivery {
            result: self.send(msg).await,
            gone: vec![],
        }
    }
}

/// The channels configured for this instance, by kind.
#[derive(Clone, Default)]
pub struct Channels {
    map: HashMap<ChannelKind, Arc<dyn Channel>>,
}

impl Channels {
    pub fn with(mut self, kind: ChannelKind, ch: Arc<dyn Channel>) -> Channels {
        self.map.insert(kind, ch);
        self
    }

    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn Channel>> {
        self.map.get(&kind)
    }

    /// The kinds configured, in no particular order.
    pub fn kinds(&self) -> impl Iterator<Item = ChannelKind> + '_ {
        self.map.keys().copied()
    }
}

/// Accepts everything and sends nothing: `simulate` renders through the real path and
/// records what would go out.
pub struct Discard;

#[async_trait]
impl Channel for Discard {
    async fn send(&self, _msg: &Outgoing) -> Result<(), SendError> {
        Ok(())
    }
}
