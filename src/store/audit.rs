//! The audit trail: every operator action and every change of a person's own choices, kept
//! append-only in the same database as the buffer, so that a school can answer "who changed
//! what, when" for data about minors (AVG). Rows are never updated (the migrations forbid it);
//! only retention deletes rows older than its period.
//!
//! An entry names its actor by role and token or link name, never by a person's name or
//! address; `before`/`after` hold the changed settings or the target's state, not grades or
//! notes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Result;

/// One thing that happened, as it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// Who: `cli`, `admin:<token name>`, `guardian:<id>`, `student:<id>`, `system`.
    pub actor: String,
    /// What, as a stable dotted name: `notices.resend`, `directory.import`, `preferences.set`.
    pub action: String,
    /// On what: an id or a filter, e.g. `event:e-17`, `student:s-4`, `dead:all`.
    pub target: String,
    /// The state before and after, as JSON, when the action changed one.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(
        at: DateTime<Utc>,
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        AuditEntry {
            at,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            before: None,
            after: None,
        }
    }

    pub fn change(
        mut self,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// A stored entry with its position in the trail (ids only grow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Which entries to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Matches the action itself or, ending in `.`, every action under that prefix.
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// The action filter as a SQL `LIKE` pattern (a prefix ending in `.` matches below it).
    pub(crate) fn action_pattern(&self) -> Option<String> {
        self.action.as_ref().map(|a| {
            let escaped = a
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            if a.ends_with('.') {
                format!("{escaped}%")
            } else {
                escaped
            }
        })
    }
}

/// A row as both stores select it.
pub(crate) type AuditTuple = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The columns of an [`AuditTuple`], in order.
pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, target, before, after";

pub(crate) fn record_of(t: AuditTuple) -> Result<AuditRecord> {
    let (id, at, actor, action, target, before, after) = t;
    let json = |s: Option<String>| -> Result<Option<serde_json::Value>> {
        s.map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| super::StoreError::Corrupt(format!("audit {id}: {e}")))
    };
    Ok(AuditRecord {
        id,
        entry: AuditEntry {
            at: super::from_ms(at),
            actor,
            action,
            target,
            before: json(before)?,
            after: json(after)?,
        },
    })
}

pub(crate) fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

/// The trail in the store.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one entry durably and returns its id.
    async fn append(&self, entry: &AuditEntry) -> Result<i64>;
    /// Entries matching `filter` with an id above `after`, oldest first, at most `limit`.
    async fn list(
        &self,
        filter: &AuditFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>>;
    /// Deletes up to `batch` entries older than `before` (retention); returns how many.
    async fn purge_audit(&self, before: DateTime<Utc>, batch: u32) -> Result<u64>;
}
