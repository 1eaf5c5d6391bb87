//! What the admin API and `rustig status` read from the buffer, and the operators' changes to
//! single notices. Every list is keyset-paginated by id (`after`, `limit`) and served from an
//! index (migration 0030), never a scan of the whole table per request.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Result, StoredNotice};
use crate::model::{ChannelKind, Role};

/// Which notices to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeFilter {
    pub school: Option<String>,
    /// `pending`, `claimed`, `sent`, `dead` or `cancelled`.
    pub state: Option<String>,
    pub channel: Option<ChannelKind>,
    pub role: Option<Role>,
    pub recipient: Option<String>,
    pub student: Option<String>,
    pub event: Option<String>,
    /// Due at or after.
    pub due_from: Option<DateTime<Utc>>,
    /// Due before.
    pub due_until: Option<DateTime<Utc>>,
}

/// A stored notice with when it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeRow {
    pub notice: StoredNotice,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Notices of one school on one channel in one state, from the counters the store keeps in
/// the transactions that change notices (migration 0060): a few rows, whatever the backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    pub school: String,
    pub channel: String,
    pub state: String,
    pub count: i64,
}

/// The next instant a school's pending notices become due, and how many are due then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRelease {
    pub at: DateTime<Utc>,
    /// (role, channel, notices) due at that instant, of the first [`HOLDS_COUNTED`] + 1.
    pub holds: Vec<(Role, ChannelKind, i64)>,
    /// More than [`HOLDS_COUNTED`] notices are due then: `holds` counted only some of them.
    pub more: bool,
}

/// How many notices of one release instant [`AdminQueries::next_release`] counts at most: a
/// digest slot can hold a whole school's backlog (millions), and the status view must stay an
/// index look-up whatever the backlog.
pub const HOLDS_COUNTED: i64 = 1_000;

/// How often the daemon folds the counters' changes ([`AdminQueries::fold_counts`]).
pub const FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// One quarantined input; `raw` only when asked for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub source: String,
    /// `rejected` (not a valid event) or `conflict` (an id stored before with other content).
    pub kind: String,
    pub reason: String,
    /// The size of the whole input.
    pub bytes: i64,
    /// The first bytes of it that were kept (`[quarantine] keep_bytes`).
    pub raw: Option<Vec<u8>>,
}

impl Quarantined {
    /// Only a prefix of the input was kept: it cannot be replayed.
    pub fn truncated(&self) -> bool {
        self.raw
            .as_ref()
            .is_some_and(|r| (r.len() as i64) < self.bytes)
    }
}

/// A stored event as the admin API shows it (the body stays in the store).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: crate::model::Event,
    pub received_at: DateTime<Utc>,
    /// The event now in force for its record (itself, or the one that superseded it).
    pub current: Option<String>,
}

/// What an operator did to one notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// The notice, before and after.
    Done(Box<NoticeRow>, Box<NoticeRow>),
    /// Not in a state that allows it (e.g. already sent); unchanged.
    Refused(Box<NoticeRow>),
    NotFound,
}

#[async_trait]
pub trait AdminQueries: Send + Sync {
    /// Notices matching `filter` with an id above `after`, by id, at most `limit`.
    async fn notices(
        &self,
        filter: &NoticeFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<NoticeRow>>;
    async fn notice(&self, id: i64) -> Result<Option<NoticeRow>>;
    /// Notices per school, channel and state (never 0), ordered so; read from maintained
    /// counters, not counted.
    async fn state_counts(&self) -> Result<Vec<StateCount>>;
    /// The first instant at or after `now` when pending notices of `school` are due.
    async fn next_release(&self, school: &str, now: DateTime<Utc>) -> Result<Option<NextRelease>>;
    /// Moves the counters' pending changes into their totals, where a store keeps them apart
    /// (PostgreSQL's delta rows, so two instances never wait on one counter row); the daemon
    /// calls it every [`FOLD_EVERY`] so the deltas stay few whatever reads the counters.
    async fn fold_counts(&self) -> Result<()> {
        Ok(())
    }
    /// The earliest due instant of the school's pending notices (an index minimum): when it
    /// has passed, the release is behind by that much.
    async fn oldest_pending(&self, school: &str) -> Result<Option<DateTime<Utc>>>;
    async fn quarantine_count(&self) -> Result<i64>;
    /// Pending email notices whose last try met a relay fault (their last error carries
    /// `crate::send::email::relay_fault::MARK`): what `rustig status` can tell of a fault.
    async fn held_by_relay_fault(&self) -> Result<i64>;
    async fn quarantined(&self, after: Option<i64>, limit: u32) -> Result<Vec<Quarantined>>;
    async fn quarantine_item(&self, id: i64) -> Result<Option<Quarantined>>;
    /// Deletes a quarantined item; `false` when there was none.
    async fn discard_quarantined(&self, id: i64) -> Result<bool>;
    /// An event whose personal fields were not purged yet.
    async fn stored_event(&self, id: &str) -> Result<Option<StoredEvent>>;
    /// A pending notice becomes `cancelled` (it stays, so a re-plan does not bring it back).
    async fn cancel_notice(&self, id: i64, reason: crate::policy::Reason) -> Result<Changed>;
    /// A pending notice becomes due at `reason.to`, with `reason` appended.
    async fn release_notice(&self, id: i64, reason: crate::policy::Reason) -> Result<Changed>;
    /// Puts these dead notices back to pending, due at `now` (as `resend_dead`); returns the
    /// ids that were dead.
    async fn resend_ids(&self, ids: &[i64], now: DateTime<Utc>) -> Result<Vec<i64>>;
}
