//! Events for a student (or school) the directory does not know yet (table `unresolved`,
//! migration 0031). The SIS is right and the directory lags: such an event is accepted and
//! kept here instead of being silently never planned; an import that adds the student plans
//! it, and `[directory] unresolved_hold` later it is reported dead with its reason.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{from_ms, Result};

/// One event waiting for its student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub event_id: String,
    pub school: String,
    pub student: String,
    pub record: String,
    /// When it was first found unresolved.
    pub since: DateTime<Utc>,
    /// When the hold ran out; `reason` says why it is dead.
    pub dead_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

impl Unresolved {
    pub fn new(
        event_id: &str,
        school: &str,
        student: &str,
        record: &str,
        since: DateTime<Utc>,
    ) -> Self {
        Unresolved {
            event_id: event_id.into(),
            school: school.into(),
            student: student.into(),
            record: record.into(),
            since,
            dead_at: None,
            reason: None,
        }
    }
}

/// Per school: events waiting for their student, and those whose hold ran out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnresolvedCount {
    pub school: String,
    pub waiting: i64,
    pub dead: i64,
}

/// A row as both stores select it.
pub(crate) type UnresolvedTuple = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

pub(crate) const UNRESOLVED_COLUMNS: &str =
    "event_id, school, student, record, since, dead_at, reason";

pub(crate) fn unresolved_of(t: UnresolvedTuple) -> Unresolved {
    let (event_id, school, student, record, since, dead_at, reason) = t;
    Unresolved {
        event_id,
        school,
        student,
        record,
        since: from_ms(since),
        dead_at: dead_at.map(from_ms),
        reason,
    }
}

#[async_trait]
pub trait UnresolvedStore: Send + Sync {
    /// Every event still waiting for its student, oldest first.
    async fn waiting(&self) -> Result<Vec<Unresolved>>;
    /// These events were planned (their student is known now): they wait no longer.
    async fn resolved(&self, event_ids: &[String]) -> Result<()>;
    /// Events waiting since before `before` are dead from `now` with `reason`; returns them.
    async fn expire(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Unresolved>>;
    /// Per school, waiting and dead (from an index; the table holds only the exceptions).
    async fn counts(&self) -> Result<Vec<UnresolvedCount>>;
    /// The row of one event, waiting or dead.
    async fn of_event(&self, event_id: &str) -> Result<Option<Unresolved>>;
    /// Retention (AVG): rows about events older than `before` go, with the events' contents.
    async fn forget(&self, before: DateTime<Utc>) -> Result<u64>;
    /// A student's erasure: every row naming them.
    async fn forget_student(&self, student: &str) -> Result<u64>;
}
