//! What the dashboard's outlook reads ([`crate::outlook`]): a school's pending notices for
//! the week ahead, the notices of one hour of it, and the messages a school sent in a week for
//! the calm figures. Each from an index (migrations 0030 and 0070), never a scan of the
//! whole buffer: a school's pending notices by (school, due_at), its sent ones by
//! (school, sent_at).
//!
//! Only what retention keeps can be read: sent notices are purged after `[retention]
//! notices`, so an older week has no deliveries left (its counts per day remain in
//! `notice_days`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Result, StoreError, StoredNotice};
use crate::model::{ChannelKind, Role};
use crate::outlook::{Delivery, PendingItem};
use crate::policy::{NoticeKind, Rule};

#[async_trait]
pub trait OutlookQueries: Send + Sync {
    /// Every pending notice of `school`, by due time; `class` is left empty (it is the
    /// directory's, not the store's: [`crate::outlook::week::with_classes`]).
    async fn pending_items(&self, school: &str) -> Result<Vec<PendingItem>>;
    /// The pending notices of `school` due in `[from, to)` with an id above `after`, by id,
    /// at most `limit`, with their reasons.
    async fn pending_between(
        &self,
        school: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredNotice>>;
    /// The messages `school` sent in `[from, to)`, by sending time.
    async fn deliveries(
        &self,
        school: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Delivery>>;
}

/// The rule name a pending row's last reason carries (`entered` when the chain is empty).
pub(crate) fn rule_or_entered(rule: Option<String>) -> String {
    rule.unwrap_or_else(|| Rule::Entered.name().to_string())
}

pub(crate) fn role_channel(role: &str, channel: &str) -> Result<(Role, ChannelKind)> {
    let r = Role::parse(role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
    let c = ChannelKind::parse(channel)
        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?;
    Ok((r, c))
}

/// One sent notice, as both stores read it for [`OutlookQueries::deliveries`].
pub(crate) struct SentRow {
    pub id: i64,
    pub recipient: String,
    pub role: String,
    pub student: String,
    pub channel: String,
    pub sent_at: i64,
    pub message_key: Option<String>,
    pub event_id: String,
    pub kind: String,
    /// Its reasons name a classroom gate that opened: `classroom_release` or `next_lesson`.
    pub discussed: bool,
}

/// The reason-chain test both stores run in SQL (`instr`/`strpos` on the stored JSON): a
/// rule's name appears quoted in either stored form (`crate::store::reasons`), and with
/// PostgreSQL's `jsonb` spacing; a detail text is escaped JSON and cannot hold it quoted.
pub(crate) const DISCUSSED_MARKS: [&str; 2] = ["\"classroom_release\"", "\"next_lesson\""];

/// Sent notices grouped into messages: one [`Delivery`] per message and student (a
/// guardian's digest about two children is two), in the order of the rows.
pub(crate) fn deliveries_of(school: &str, rows: Vec<SentRow>) -> Result<Vec<Delivery>> {
    let mut out: Vec<Delivery> = Vec::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in rows {
        let (role, channel) = role_channel(&r.role, &r.channel)?;
        let kind = NoticeKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("kind {:?}", r.kind)))?;
        let message = r.message_key.unwrap_or_else(|| format!("notice:{}", r.id));
        let at = super::from_ms(r.sent_at);
        let i = *index
            .entry((message, r.student.clone()))
            .or_insert_with(|| {
                out.push(Delivery {
                    school: school.to_string(),
                    recipient: r.recipient.clone(),
                    role,
                    student: r.student.clone(),
                    channel,
                    at,
                    event_ids: vec![],
                    kinds: vec![],
                    after_discussion: None,
                });
                out.len() - 1
            });
        let d = &mut out[i];
        d.at = d.at.min(at);
        d.event_ids.push(r.event_id);
        d.kinds.push(kind);
        if kind == NoticeKind::Grade {
            d.after_discussion = Some(d.after_discussion.unwrap_or(true) && r.discussed);
        }
    }
    Ok(out)
}
