//! The outbox: a message's composition and key are fixed in the claim's transaction, before
//! its first send, and survive a crash.
//!
//! A claim takes every claimable notice of its (school, recipient, channel) groups. Notices
//! already in a message (claimed by an instance that died, or back from a transient failure)
//! stay in that message and go out again under its key; the others form one new message per
//! group, recorded as a `messages` row that the notices link to (`notices.message_id`, and
//! `notices.message_key` for the key). So a re-send after a lease ran out carries exactly what
//! the first try carried, with the same `Message-ID`, `Idempotency-Key`, push `Topic` and
//! `.eml` name; notices that became due since go in a message of their own.
//!
//! A message is dissolved (its notices free to bundle again) only when it cannot have been
//! sent: its first claim ended in a deferral (the daily cap) without a send being tried.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::StoredNotice;
use crate::model::ChannelKind;

/// A message to record in the claim's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub key: String,
    pub school: String,
    pub recipient: String,
    pub channel: ChannelKind,
    /// Ids of the notices it carries.
    pub notices: Vec<i64>,
}

/// What a claim must record: new messages, and the messages claimed again (their claim count
/// grows, which marks them as possibly sent).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Composition {
    pub new: Vec<NewMessage>,
    pub again: Vec<i64>,
}

/// Splits claimed notices into messages: the notices of a known message stay in it; the rest
/// of each (school, recipient, channel) group becomes one new message, keyed by its notices.
pub fn compose(claimed: &[StoredNotice]) -> Composition {
    let mut again: Vec<i64> = claimed.iter().filter_map(|n| n.message_id).collect();
    again.sort_unstable();
    again.dedup();
    let mut groups: BTreeMap<(&str, &str, &'static str), Vec<&StoredNotice>> = BTreeMap::new();
    for n in claimed.iter().filter(|n| n.message_id.is_none()) {
        groups
            .entry((&n.school, &n.recipient, n.channel.as_str()))
            .or_default()
            .push(n);
    }
    let new = groups
        .into_values()
        .map(|g| NewMessage {
            key: message_key(g.iter().map(|n| n.key.as_str())),
            school: g[0].school.clone(),
            recipient: g[0].recipient.clone(),
            channel: g[0].channel,
            notices: g.iter().map(|n| n.id).collect(),
        })
        .collect();
    Composition { new, again }
}

/// Links claimed notices to the messages recorded for them (`ids[i]` is `new[i]`'s row).
pub fn link(claimed: &mut [StoredNotice], new: &[NewMessage], ids: &[i64]) {
    let mut by_notice = std::collections::HashMap::new();
    for (m, id) in new.iter().zip(ids) {
        for n in &m.notices {
            by_notice.insert(*n, (*id, m.key.as_str()));
        }
    }
    for n in claimed.iter_mut() {
        if let Some((id, key)) = by_notice.get(&n.id) {
            n.message_id = Some(*id);
            n.message_key = Some(key.to_string());
        }
    }
}

/// The idempotency key of a new message: the same notices always make the same key (a
/// message put back together after `rustig resend` keeps its key).
pub fn message_key<'a>(notice_keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut keys: Vec<&str> = notice_keys.into_iter().collect();
    keys.sort_unstable();
    let mut h = Sha256::new();
    for k in keys {
        h.update(k.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}
