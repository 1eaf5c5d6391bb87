//! Delivery channels. A channel takes one rendered message for one recipient and hands it
//! over; it says whether a failure is worth retrying.

pub mod email;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{ChannelKind, Contact, Locale, Role};

/// The visible text of a message, filled for every channel kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    /// Email subject.
    pub subject: String,
    /// Email plain-text part.
    pub text: String,
    /// Email HTML part.
    pub html: String,
    /// Push notification title.
    pub title: String,
    /// Push notification body.
    pub body: String,
}

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

#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError>;
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
