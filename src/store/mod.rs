//! The durable delay buffer behind a trait, so that SQLite (embedded) and PostgreSQL (several
//! instances) give the same semantics.
//!
//! Ingest works in one transaction per batch ([`Tx`]); the scheduler claims due notices in
//! groups of one (school, recipient, channel) and marks them sent or failed.

pub mod admin;
pub mod audit;
pub mod health;
pub mod outbox;
pub mod outlook;
pub mod postgres;
pub mod preference;
pub(crate) mod reasons;
pub mod retention;
pub mod snapshot;
pub mod sqlite;
pub mod unresolved;
pub mod whatif;

pub use health::Health;

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::model::reachability::{GoneKey, GoneMark};
use crate::model::{ChannelKind, Event, Role};
use crate::policy::{Delivered, Notice, NoticeKind, Reason};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("unsupported store url {0:?}: expected sqlite://PATH or postgres://…")]
    Unsupported(String),
    /// An error of SQLite's own API (the ingest batch on the raw connection).
    #[error("database: {0}")]
    Sqlite(String),
    #[error("{0}")]
    Setup(String),
    /// Input that would need quarantine finds it full: the batch is refused, not acknowledged.
    #[error("the quarantine is full ({used} of {max} bytes, [quarantine] max_bytes): rejected input cannot be kept; purge it or raise the quota")]
    QuarantineFull { used: i64, max: u64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The current version of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
}

/// A notice as stored, with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNotice {
    pub id: i64,
    pub key: String,
    pub school: String,
    pub record: String,
    pub event_id: String,
    pub student: String,
    pub recipient: String,
    pub role: Role,
    pub channel: ChannelKind,
    pub kind: NoticeKind,
    pub due_at: DateTime<Utc>,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub reasons: Vec<Reason>,
    /// The message (outbox row) the notice is in: set by the claim that first takes it, kept
    /// until it is sent or dead, so a re-send carries the same notices under the same key.
    pub message_id: Option<i64>,
    /// That message's idempotency key (also kept on sent notices).
    pub message_key: Option<String>,
}

/// Totals for health checks and the bench.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub events: i64,
    pub pending: i64,
    pub claimed: i64,
    pub sent: i64,
    pub dead: i64,
    pub quarantined: i64,
}

/// What happens to a claimed group after a send attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        message_key: String,
        at: DateTime<Utc>,
    },
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    Dead {
        error: String,
    },
    /// Not attempted (e.g. the daily cap): waits until `reason.to`, with the reason appended.
    Defer {
        reason: Reason,
    },
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// The earliest instant at which something becomes claimable.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Readies the notices due by `until` for their claim, ahead of time: a store that keeps
    /// new notices out of its recipient index (SQLite, migration 0100) moves them in now, so
    /// the claim at their due instant starts sending at once instead of first merging a whole
    /// night's backlog. Optional: the claim merges whatever is left. Returns how many moved.
    async fn prepare_due(&self, until: DateTime<Utc>) -> Result<u64> {
        let _ = until;
        Ok(0)
    }
    /// Claims every due notice of up to `groups` (school, recipient, channel) groups until
    /// `lease_until`; a claim whose holder died is claimable again after its lease. In the same
    /// transaction each claimed notice gets its message ([`outbox`]): a notice already in one
    /// keeps it, the others of a group form a new one. Every returned notice has
    /// `message_id` and `message_key` set.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        groups: u32,
    ) -> Result<Vec<StoredNotice>>;
    /// Records the outcome of many messages in one transaction. A retried or dead message
    /// keeps its notices; a deferred one is dissolved only if it was never claimed before
    /// (no send can have been tried), so its notices bundle again at their new time.
    async fn finish(&self, outcomes: &[(Vec<i64>, Outcome)]) -> Result<()>;
    /// The most outcomes one [`Store::finish`] should take of a release round of `round`
    /// messages, when more have arrived. 256 by default; SQLite takes the whole round (its
    /// one writer pays per transaction; BENCHMARKS.md, issue 18, fifteenth round).
    fn record_at_most(&self, round: usize) -> usize {
        round.min(256)
    }
    async fn events(&self, ids: &[String]) -> Result<HashMap<String, Event>>;
    async fn notices_of_event(&self, event_id: &str) -> Result<Vec<StoredNotice>>;
    /// Records that have pending notices (for re-planning after a reload).
    async fn pending_records(&self) -> Result<Vec<(String, String)>>;
    /// Stores the directory (JSON), unless the stored one is the same.
    async fn save_directory(&self, json: &str, at: DateTime<Utc>) -> Result<()>;
    async fn load_directory(&self) -> Result<Option<String>>;
    async fn counts(&self) -> Result<Counts>;
    /// The newest event of a record that `recipient` received before `event_id`.
    async fn previously_delivered(
        &self,
        school: &str,
        record: &str,
        recipient: &str,
        event_id: &str,
    ) -> Result<Option<String>>;
    /// Messages sent to a recipient on a channel since `since`, counted per message.
    async fn messages_sent_since(
        &self,
        school: &str,
        recipient: &str,
        channel: ChannelKind,
        since: DateTime<Utc>,
    ) -> Result<i64>;
    /// Records contacts a service called gone (replacing an older mark of the same contact).
    async fn mark_gone(&self, marks: &[GoneMark]) -> Result<()>;
    /// Every contact marked gone, oldest first.
    async fn gone_contacts(&self) -> Result<Vec<GoneMark>>;
    /// Drops marks whose contacts changed or left the directory.
    async fn clear_gone(&self, keys: &[GoneKey]) -> Result<()>;
    /// Puts dead notices (all, or one event's) back to pending, due at `now` with a fresh
    /// attempt count and a `resend` reason (which also restarts `max_age`), out of their dead
    /// message (they form a new one); returns how many.
    async fn resend_dead(&self, event_id: Option<&str>, now: DateTime<Utc>) -> Result<u64>;
    /// Stores notices unless one with the same key exists (the email fallback); returns how
    /// many were new.
    async fn add_notices(&self, notices: &[Notice]) -> Result<u64>;
    /// Reachability, last error and pending count, for the admin API; cheap enough to poll.
    async fn health(&self) -> Health {
        let probe = health::probe(async { self.counts().await.map(|c| c.pending) }).await;
        health::HealthState::new("unknown").snapshot(probe, 0, 0)
    }
    /// Migrations this build carries that the database has not applied (empty when its
    /// schema is current). `/readyz` asks it: it is also the query that shows the store
    /// answers.
    async fn migrations_missing(&self) -> Result<Vec<i64>>;
    /// Resolves when another process may have made something due sooner than this one
    /// knows (several instances on one database). A store no one else writes never does.
    async fn changed(&self) {
        std::future::pending::<()>().await
    }
    /// The SIS pollers' snapshots, kept in the same database.
    fn snapshots(&self) -> &dyn snapshot::SnapshotStore;

    /// Retention (AVG) and the erasure of one student's data.
    fn retention(&self) -> &dyn retention::Retention;

    /// The audit trail of operator actions and personal choices, in the same database.
    fn audit(&self) -> &dyn audit::AuditLog;

    /// The families' own choices (preference page), apart from the directory.
    fn preferences(&self) -> &dyn preference::PreferenceStore;
    /// The admin API's views and operator changes.
    fn views(&self) -> &dyn admin::AdminQueries;
    /// The dashboard's week ahead and calm figures.
    fn outlook(&self) -> &dyn outlook::OutlookQueries;
    /// Events waiting for a student the directory does not know yet.
    fn unresolved(&self) -> &dyn unresolved::UnresolvedStore;
    /// What a what-if reads (read only).
    fn whatif(&self) -> &dyn whatif::WhatIfQueries;
}

/// One ingest transaction. Nothing is visible to others, nor acknowledged, before `commit`.
///
/// Ingest works on whole batches (the `…s`/`…_of` forms: a few statements per batch, not
/// several per event); the one-row forms are those with one row.
#[async_trait]
pub trait Tx: Send {
    /// Stores events; per event `true` when it was new, `false` when its id was already
    /// stored (a harmless redelivery). An id repeated within the batch is new once, the first
    /// time.
    async fn insert_events(
        &mut self,
        events: &[&Event],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>>;
    async fn event(&mut self, id: &str) -> Result<Option<Event>>;
    /// Events by id; ids not stored are left out.
    async fn events_by_id(&mut self, ids: &[String]) -> Result<HashMap<String, Event>> {
        let mut out = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.event(id).await? {
                out.insert(id.clone(), e);
            }
        }
        Ok(out)
    }
    /// The current version of each of these records that has one.
    async fn currents(&mut self, records: &[RecordKey]) -> Result<HashMap<RecordKey, Current>>;
    /// Sets records' current versions (for a record given twice, the last).
    async fn set_currents(&mut self, items: &[(RecordKey, Current)]) -> Result<()>;
    /// Classroom releases by (school, release key), for those that happened.
    async fn releases(&mut self, keys: &[RecordKey]) -> Result<HashMap<RecordKey, DateTime<Utc>>>;
    /// Keeps the earliest release.
    async fn record_release(
        &mut self,
        school: &str,
        release_key: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// What was delivered for each of these records (records with nothing delivered are left
    /// out), oldest first.
    async fn delivered_of(
        &mut self,
        records: &[RecordKey],
    ) -> Result<HashMap<RecordKey, Vec<Delivered>>>;
    /// Drops the pending notices of `records` and stores `notices` (all of them belonging to
    /// those records) instead; a notice already stored under its key (claimed or sent) stays
    /// as it is.
    async fn replace_pending_of(&mut self, records: &[RecordKey], notices: &[Notice])
        -> Result<()>;
    async fn records_waiting_for(&mut self, school: &str, release_key: &str)
        -> Result<Vec<String>>;
    /// Keeps a rejected or conflicting item (its prefix, size and hash).
    async fn quarantine(&mut self, item: &retention::QuarantineItem<'_>) -> Result<()>;
    /// What the quarantine holds, against `[quarantine] max_bytes`.
    async fn quarantine_bytes(&mut self) -> Result<i64>;
    /// The content hashes of these stored events (ids not stored are left out).
    async fn event_hashes(&mut self, ids: &[String]) -> Result<HashMap<String, String>>;
    /// Keeps events whose student the directory does not know (an event kept before stays as
    /// it was); returns the (school, student) pairs that were not waiting before, to be said
    /// once per student.
    async fn add_unresolved(
        &mut self,
        rows: &[unresolved::Unresolved],
    ) -> Result<Vec<(String, String)>>;
    async fn commit(self: Box<Self>) -> Result<()>;

    // The one-row forms.

    /// Stores an event; `false` when its id was already stored (a harmless redelivery).
    async fn insert_event(&mut self, e: &Event, received_at: DateTime<Utc>) -> Result<bool> {
        Ok(self.insert_events(&[e], received_at).await?[0])
    }
    async fn current(&mut self, school: &str, record: &str) -> Result<Option<Current>> {
        let key = (school.to_string(), record.to_string());
        Ok(self
            .currents(std::slice::from_ref(&key))
            .await?
            .remove(&key))
    }
    async fn set_current(&mut self, school: &str, record: &str, cur: &Current) -> Result<()> {
        let key = (school.to_string(), record.to_string());
        self.set_currents(&[(key, cur.clone())]).await
    }
    async fn released_at(
        &mut self,
        school: &str,
        release_key: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let key = (school.to_string(), release_key.to_string());
        Ok(self
            .releases(std::slice::from_ref(&key))
            .await?
            .remove(&key))
    }
    async fn delivered(&mut self, school: &str, record: &str) -> Result<Vec<Delivered>> {
        let key = (school.to_string(), record.to_string());
        Ok(self
            .delivered_of(std::slice::from_ref(&key))
            .await?
            .remove(&key)
            .unwrap_or_default())
    }
    /// Drops the record's pending notices and stores `notices` instead.
    async fn replace_pending(
        &mut self,
        school: &str,
        record: &str,
        notices: &[Notice],
    ) -> Result<()> {
        let key = (school.to_string(), record.to_string());
        self.replace_pending_of(&[key], notices).await
    }
}

/// (school, record), or (school, release key) for classroom releases.
pub type RecordKey = (String, String);

/// Rows of (school, record, recipient, channel, event id, sent at), oldest first, as the
/// stores' `delivered_of` reads them.
pub(crate) type DeliveredRow = (String, String, String, String, String, i64);

/// Groups delivered rows by record, keeping their order.
pub(crate) fn delivered_by_record(
    rows: Vec<DeliveredRow>,
) -> Result<HashMap<RecordKey, Vec<Delivered>>> {
    let mut out: HashMap<RecordKey, Vec<Delivered>> = HashMap::new();
    for (school, record, recipient, channel, event_id, sent_at) in rows {
        out.entry((school, record)).or_default().push(Delivered {
            recipient,
            channel: ChannelKind::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
            event_id,
            sent_at: from_ms(sent_at),
        });
    }
    Ok(out)
}

/// The versions of `migrator` that are not in `applied`.
pub(crate) fn missing_migrations(migrator: &sqlx::migrate::Migrator, applied: &[i64]) -> Vec<i64> {
    migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect()
}

/// Whether the store named by a URL may hold anything: a SQLite file that does not exist yet
/// holds nothing (and a command that only reads need not create it); a server is asked.
pub fn may_exist(url: &str) -> bool {
    if url.starts_with("sqlite:") {
        use std::str::FromStr;
        return sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .is_ok_and(|o| !url.contains(":memory:") && o.get_filename().exists());
    }
    true
}

/// Opens the store named by a URL, applying migrations.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::Unsupported(url.to_string()))
    }
}

/// A notice's reasons with a `resend` step appended (stores share it).
pub(crate) fn resent_reasons(
    reasons: &str,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    reasons::append(
        reasons,
        crate::policy::Reason::moved(
            crate::policy::Rule::Resend,
            from,
            now,
            "put back by rustig resend",
        ),
    )
}

/// Identifies a stored directory: `save_directory` skips the write when it is unchanged.
pub fn directory_hash(json: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(json.as_bytes()))
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
