//! Start-up of the push and webhook channels.

use std::sync::Arc;

use super::fcm::{FcmChannel, FcmError};
use super::http::{HttpSender, HttpSetupError};
use super::ntfy::{NtfyChannel, NtfyError};
use super::webhook::{WebhookChannel, WebhookError};
use super::webpush::{WebPushChannel, WebPushError};
use super::Channels;
use crate::config::Config;
use crate::model::ChannelKind;

#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    #[error(transparent)]
    WebPush(#[from] WebPushError),
    #[error(transparent)]
    Fcm(#[from] FcmError),
    #[error(transparent)]
    Ntfy(#[from] NtfyError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// Adds ntfy (always: public topics need no settings) and each channel whose table is in the
/// config. All of them share one HTTP client with `[delivery] timeout` and `per_host`.
pub fn add_configured(channels: Channels, config: &Config) -> Result<Channels, ChannelSetupError> {
    let http = Arc::new(HttpSender::from_config(&config.delivery)?);
    let c = &config.channels;
    let mut channels = channels.with(
        ChannelKind::Ntfy,
        Arc::new(NtfyChannel::new(&c.ntfy, http.clone())?),
    );
    if let Some(w) = &c.webpush {
        channels = channels.with(
            ChannelKind::Webpush,
            Arc::new(WebPushChannel::new(w, http.clone())?),
        );
    }
    if let Some(f) = &c.fcm {
        channels = channels.with(
            ChannelKind::Fcm,
            Arc::new(FcmChannel::new(f, http.clone())?),
        );
    }
    if let Some(w) = &c.webhook {
        channels = channels.with(
            ChannelKind::Webhook,
            Arc::new(WebhookChannel::new(w, http.clone())?),
        );
    }
    Ok(channels)
}
