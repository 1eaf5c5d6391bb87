//! The SIS pollers' memory: per (source, scope) what was seen last, so that the next poll
//! emits only what changed. Rows hold a digest, never a grade or a note: rustig keeps only
//! what the diff needs.
//!
//! The pollers commit their events first and the snapshot after (ack-after-commit); event
//! ids are derived from (key, version, digest), so a crash between the two commits repeats
//! the same ids, which ingest ignores as duplicates.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Result;

/// What rustig last saw of one SIS item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapRow {
    /// Unique within the scope (a result's uuid, an export's record key, …).
    pub key: String,
    /// Hash of the item as last seen; `None` once it disappeared. The tombstone keeps the
    /// version, so an item that comes back gets a new event id rather than an old one.
    pub digest: Option<String>,
    /// Counts the events emitted for this key; part of their ids.
    pub version: i64,
    /// `grade`, `absence`, or `bad` (input quarantined once, never diffed).
    pub kind: String,
    pub record: String,
    pub student: String,
    /// The slice of the source this item belongs to (a date for absences by date): a poll
    /// that did not cover a part leaves its rows alone.
    pub part: Option<String>,
}

/// A row as both stores select it: key, digest, version, kind, record, student, part.
pub(crate) type SnapTuple = (
    String,
    Option<String>,
    i64,
    String,
    String,
    String,
    Option<String>,
);

/// The columns of a [`SnapTuple`], in order.
pub(crate) const SNAP_COLUMNS: &str = "key, digest, version, kind, record, student, part";

/// A stored scope: its cursor and its rows.
pub(crate) fn snapshot_of(cursor: Option<String>, rows: Vec<SnapTuple>) -> Snapshot {
    Snapshot {
        cursor,
        rows: rows
            .into_iter()
            .map(|(key, digest, version, kind, record, student, part)| {
                let row = SnapRow {
                    key,
                    digest,
                    version,
                    kind,
                    record,
                    student,
                    part,
                };
                (row.key.clone(), row)
            })
            .collect(),
    }
}

/// A scope's stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub rows: HashMap<String, SnapRow>,
    /// Where the source got to (the export file processed last, an events index).
    pub cursor: Option<String>,
}

/// What one poll changes in its scope's snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotChange {
    pub upsert: Vec<SnapRow>,
    /// Keys forgotten for good (parts that left the source's window).
    pub delete: Vec<String>,
    /// A new cursor; `None` keeps the stored one.
    pub cursor: Option<String>,
}

impl SnapshotChange {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.delete.is_empty() && self.cursor.is_none()
    }
}

/// The snapshot concern of a store, on SQLite and PostgreSQL alike.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// The scope's snapshot, or `None` when it was never polled (its first poll is a baseline).
    async fn load_snapshot(&self, source: &str, scope: &str) -> Result<Option<Snapshot>>;
    /// Applies `change` in one transaction and marks the scope polled at `at`.
    async fn save_snapshot(
        &self,
        source: &str,
        scope: &str,
        change: &SnapshotChange,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Every scope of a source that was polled, in no particular order.
    async fn snapshot_scopes(&self, source: &str) -> Result<Vec<String>>;
    /// Forgets scopes and their rows (a student who left: nothing of theirs is kept).
    async fn drop_snapshot_scopes(&self, source: &str, scopes: &[String]) -> Result<()>;
}
