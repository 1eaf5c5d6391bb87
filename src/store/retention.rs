//! Private by default (AVG): what the store keeps of rejected input, how long it keeps personal
//! data, and the erasure of one student's data on request.
//!
//! - A quarantined item keeps a bounded prefix with its full size and SHA-256; all items
//!   together stay under a quota.
//! - Delivered and dead notices are deleted after `[retention] notices`; their counts per day
//!   stay in `notice_days` (no person named).
//! - An event's body (grades, notes, the student) is replaced by `{}` after `[retention]
//!   events`, once no notice of it waits; its id and content hash stay as the idempotency key.
//! - Quarantine and audit rows are deleted after their own periods.
//!
//! Every purge deletes at most `batch` rows per call, in its own short transaction, so that a
//! release running meanwhile waits for one small transaction at most.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Result;
use crate::model::Event;

/// What a quarantine row counts against the quota besides its kept bytes and reason.
pub const ROW_OVERHEAD: i64 = 100;

/// Why an item is in quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuarantineKind {
    /// Not a valid event.
    Rejected,
    /// An event id stored before with other content.
    Conflict,
}

impl QuarantineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineKind::Rejected => "rejected",
            QuarantineKind::Conflict => "conflict",
        }
    }
}

/// One item as the quarantine keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineItem<'a> {
    pub source: &'a str,
    pub kind: QuarantineKind,
    pub reason: String,
    /// The first `keep_bytes` of the input.
    pub prefix: &'a [u8],
    /// The whole input's size and SHA-256 (hex).
    pub size: u64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

impl<'a> QuarantineItem<'a> {
    pub fn new(
        source: &'a str,
        kind: QuarantineKind,
        reason: String,
        raw: &'a [u8],
        keep_bytes: usize,
        at: DateTime<Utc>,
    ) -> QuarantineItem<'a> {
        QuarantineItem {
            source,
            kind,
            reason,
            prefix: &raw[..raw.len().min(keep_bytes)],
            size: raw.len() as u64,
            hash: hex::encode(Sha256::digest(raw)),
            at,
        }
    }

    /// Bytes this item counts against `[quarantine] max_bytes`.
    pub fn cost(&self) -> i64 {
        self.prefix.len() as i64 + self.reason.len() as i64 + ROW_OVERHEAD
    }
}

/// The SHA-256 (hex) of an event's canonical JSON: equal for an identical repeat.
pub fn content_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// An event's canonical JSON and its hash, as the stores write them.
pub fn body_and_hash(e: &Event) -> (String, String) {
    let body = e.to_json();
    let hash = content_hash(&body);
    (body, hash)
}

/// The body a purged event keeps.
pub const PURGED_BODY: &str = "{}";

/// The quarantine's size, for health and the quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QuarantineUsage {
    pub items: i64,
    /// What the items count against `[quarantine] max_bytes`.
    pub bytes: i64,
}

/// Counts of purged notices of one UTC day, school, channel, role, kind and end state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NoticeDay {
    pub day: String,
    pub school: String,
    pub channel: String,
    pub role: String,
    pub kind: String,
    pub state: String,
    pub notices: i64,
}

/// A delivered or dead notice as the purge reads it: what the day counts need.
pub(crate) type DoneRow = (i64, String, String, String, String, String, i64);

/// Adds up done rows per day (UTC), school, channel, role, kind and state.
pub(crate) fn day_counts(rows: &[DoneRow]) -> Vec<NoticeDay> {
    let mut out: BTreeMap<(String, String, String, String, String, String), i64> = BTreeMap::new();
    for (_, school, channel, role, kind, state, at) in rows {
        let day = super::from_ms(*at).format("%Y-%m-%d").to_string();
        *out.entry((
            day,
            school.clone(),
            channel.clone(),
            role.clone(),
            kind.clone(),
            state.clone(),
        ))
        .or_default() += 1;
    }
    out.into_iter()
        .map(
            |((day, school, channel, role, kind, state), notices)| NoticeDay {
                day,
                school,
                channel,
                role,
                kind,
                state,
                notices,
            },
        )
        .collect()
}

/// What one student's erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub events: u64,
    pub notices: u64,
    pub quarantine: u64,
    pub gone_contacts: u64,
}

/// Retention and erasure in the store.
#[async_trait]
pub trait Retention: Send + Sync {
    /// Deletes up to `batch` sent or dead notices that ended before `before`, adding them to
    /// the day counts in the same transaction; returns how many.
    async fn purge_notices(&self, before: DateTime<Utc>, batch: u32) -> Result<u64>;
    /// Purges the bodies of up to `batch` events received before `before` that no pending or
    /// claimed notice needs; returns how many.
    async fn purge_events(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64>;
    /// Deletes up to `batch` quarantined items received before `before`; returns how many.
    async fn purge_quarantine(&self, before: DateTime<Utc>, batch: u32) -> Result<u64>;
    /// The counts of purged notices, oldest day first.
    async fn notice_days(&self) -> Result<Vec<NoticeDay>>;
    async fn quarantine_usage(&self) -> Result<QuarantineUsage>;
    /// Erases one student's events, the notices about them (to anyone, in any state: nothing
    /// more goes out), quarantined input naming them and their gone marks, in one
    /// transaction. Sent and dead notices still count in the day counts. The audit line is
    /// the caller's (it knows the actor).
    async fn erase_student(&self, student: &str) -> Result<Erased>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantined_item_keeps_a_prefix_with_the_whole_size_and_hash() {
        let raw = vec![b'x'; 10_000];
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let item = QuarantineItem::new(
            "http",
            QuarantineKind::Rejected,
            "bad".into(),
            &raw,
            4096,
            at,
        );
        assert_eq!(item.prefix.len(), 4096);
        assert_eq!(item.size, 10_000);
        assert_eq!(item.hash, hex::encode(Sha256::digest(&raw)));
        assert_eq!(item.cost(), 4096 + 3 + ROW_OVERHEAD);
        let small = QuarantineItem::new(
            "http",
            QuarantineKind::Conflict,
            "c".into(),
            b"{}",
            4096,
            at,
        );
        assert_eq!((small.prefix, small.size), (&b"{}"[..], 2));
    }

    #[test]
    fn day_counts_add_up_per_utc_day_and_kind() {
        let ms = |s: &str| super::super::to_ms(DateTime::parse_from_rfc3339(s).unwrap().into());
        let row = |id, channel: &str, state: &str, at: &str| {
            (
                id,
                "s".to_string(),
                channel.to_string(),
                "guardian".to_string(),
                "grade".to_string(),
                state.to_string(),
                ms(at),
            )
        };
        let rows = [
            row(1, "email", "sent", "2026-11-23T23:30:00+00:00"),
            row(2, "email", "sent", "2026-11-24T00:30:00+01:00"),
            row(3, "email", "sent", "2026-11-24T00:30:00+00:00"),
            row(4, "ntfy", "dead", "2026-11-24T10:00:00+00:00"),
        ];
        let days: Vec<(String, String, String, i64)> = day_counts(&rows)
            .into_iter()
            .map(|d| (d.day, d.channel, d.state, d.notices))
            .collect();
        assert_eq!(
            days,
            [
                ("2026-11-23".into(), "email".into(), "sent".into(), 2),
                ("2026-11-24".into(), "email".into(), "sent".into(), 1),
                ("2026-11-24".into(), "ntfy".into(), "dead".into(), 1),
            ]
        );
    }
}
