//! The push and webhook channel tables (`[webpush]`, `[fcm]`, `[ntfy]`, `[webhook]`) and the
//! delivery keys that go with them. A channel whose table is missing is not registered, so
//! its notices die with "channel … is not configured" (or fall back to email).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::HumanDuration;
use super::Resolver;
use crate::model::ChannelKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebPush {
    vapid_private_key_file: PathBuf,
    subject: String,
    pub(super) ttl: Option<HumanDuration>,
    urgency: Option<Urgency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFcm {
    service_account_file: PathBuf,
    base_url: Option<String>,
    pub(super) ttl: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNtfy {
    token_file: Option<PathBuf>,
    pub(super) priority: Option<u8>,
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    secret_file: PathBuf,
}

/// RFC 8030 `Urgency`: how eagerly a device should wake up for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// What to do with a message whose push contacts are gone or refuse it for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// The message is dead.
    #[default]
    None,
    /// The message goes by email instead (when the recipient has an address).
    Email,
}

#[derive(Debug, Clone)]
pub struct WebPushConfig {
    /// The VAPID private key: the base64url line `rustig vapid-keygen` prints, or a PEM.
    pub vapid_private_key_file: PathBuf,
    /// `mailto:` or `https:` contact for the push service's operators (RFC 8292 `sub`).
    pub subject: String,
    pub ttl: Duration,
    pub urgency: Urgency,
}

#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// The Firebase service-account JSON (project_id, client_email, private_key, token_uri).
    pub service_account_file: PathBuf,
    /// `https://fcm.googleapis.com`; a local endpoint in tests.
    pub base_url: String,
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct NtfyConfig {
    /// A file holding an access token (`Authorization: Bearer`), for protected topics.
    pub token_file: Option<PathBuf>,
    /// 1 (min) … 5 (max); 3 is ntfy's default.
    pub priority: u8,
    /// Added to the notice kinds ("grade", "absence", …) in the `Tags` header.
    pub tags: Vec<String>,
}

impl Default for NtfyConfig {
    fn default() -> Self {
        NtfyConfig {
            token_file: None,
            priority: 3,
            tags: vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The shared secret for the `X-Rustig-Signature` HMAC.
    pub secret_file: PathBuf,
}

/// The channel tables as configured; `ntfy` works without a table (public topics).
#[derive(Debug, Clone, Default)]
pub struct ChannelsConfig {
    pub webpush: Option<WebPushConfig>,
    pub fcm: Option<FcmConfig>,
    pub ntfy: NtfyConfig,
    pub webhook: Option<WebhookConfig>,
}

impl ChannelsConfig {
    /// The table a contact on `kind` needs and that the config lacks (`"[fcm]"`), or `None`
    /// when the channel can send: email (its defaults) and ntfy (public topics) always can.
    pub fn missing_table(&self, kind: ChannelKind) -> Option<&'static str> {
        match kind {
            ChannelKind::Email | ChannelKind::Ntfy => None,
            ChannelKind::Webpush => self.webpush.is_none().then_some("[webpush]"),
            ChannelKind::Fcm => self.fcm.is_none().then_some("[fcm]"),
            ChannelKind::Webhook => self.webhook.is_none().then_some("[webhook]"),
        }
    }

    /// Contacts of the directory on channels without their table, per channel (people
    /// listed under several students counted once): nothing can be sent to them.
    pub fn unconfigured(&self, dir: &crate::model::schema::DirectoryData) -> Vec<Unconfigured> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Unconfigured> = Vec::new();
        let people = dir.students.iter().flat_map(|s| {
            std::iter::once((&s.school, &s.id, &s.contacts)).chain(
                s.guardians
                    .iter()
                    .map(move |g| (&s.school, &g.id, &g.contacts)),
            )
        });
        for (school, id, contacts) in people {
            if !seen.insert((school, id)) {
                continue;
            }
            for c in contacts {
                let kind = c.channel();
                let Some(table) = self.missing_table(kind) else {
                    continue;
                };
                match out.iter_mut().find(|u| u.channel == kind) {
                    Some(u) => u.contacts += 1,
                    None => out.push(Unconfigured {
                        channel: kind,
                        table,
                        contacts: 1,
                    }),
                }
            }
        }
        out.sort_by_key(|u| u.channel.as_str());
        out
    }
}

/// Contacts on a channel whose table the config lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconfigured {
    pub channel: ChannelKind,
    /// `"[fcm]"`.
    pub table: &'static str,
    pub contacts: usize,
}

impl std::fmt::Display for Unconfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} contact(s) on {} but the config has no {} table: nothing is sent to them \
             (add the table, or other contacts)",
            self.contacts,
            self.channel.as_str(),
            self.table
        )
    }
}

pub(super) struct RawChannels {
    pub webpush: Option<RawWebPush>,
    pub fcm: Option<RawFcm>,
    pub ntfy: Option<RawNtfy>,
    pub webhook: Option<RawWebhook>,
}

/// Push messages older than this are useless; also the default TTL.
const DEFAULT_TTL: Duration = Duration::from_secs(2 * 24 * 3600);

impl Resolver<'_> {
    pub(super) fn channels(&mut self, raw: RawChannels) -> ChannelsConfig {
        let webpush = raw.webpush.map(|w| {
            if !(w.subject.starts_with("mailto:") || w.subject.starts_with("https://")) {
                self.error(
                    "webpush.subject",
                    format!(
                        "{:?}: expected \"mailto:you@school.example\" or an https:// URL",
                        w.subject
                    ),
                );
            }
            WebPushConfig {
                vapid_private_key_file: w.vapid_private_key_file,
                subject: w.subject,
                ttl: w.ttl.map(|t| t.0).unwrap_or(DEFAULT_TTL),
                urgency: w.urgency.unwrap_or(Urgency::Normal),
            }
        });
        let fcm = raw.fcm.map(|f| {
            let base_url = f
                .base_url
                .unwrap_or_else(|| "https://fcm.googleapis.com".into())
                .trim_end_matches('/')
                .to_string();
            if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                self.error(
                    "fcm.base_url",
                    format!("{base_url:?}: expected a URL like \"https://fcm.googleapis.com\""),
                );
            }
            FcmConfig {
                service_account_file: f.service_account_file,
                base_url,
                ttl: f.ttl.map(|t| t.0).unwrap_or(DEFAULT_TTL),
            }
        });
        let ntfy = match raw.ntfy {
            None => NtfyConfig::default(),
            Some(n) => {
                let priority = n.priority.unwrap_or(3);
                let tags = n.tags.unwrap_or_default();
                if tags
                    .iter()
                    .any(|t| t.is_empty() || t.contains(',') || !t.is_ascii())
                {
                    self.error(
                        "ntfy.tags",
                        "tags must be non-empty ASCII words without commas".into(),
                    );
                }
                NtfyConfig {
                    token_file: n.token_file,
                    priority,
                    tags,
                }
            }
        };
        let webhook = raw.webhook.map(|w| WebhookConfig {
            secret_file: w.secret_file,
        });
        ChannelsConfig {
            webpush,
            fcm,
            ntfy,
            webhook,
        }
    }
}
