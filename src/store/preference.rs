//! The families' choices in the store (table `preferences`, migration 0040), apart from the
//! directory: an import never touches them. Every change is written together with its audit
//! entry, in one transaction, so there is no change without a trail and no trail without
//! the change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::audit::AuditEntry;
use super::{RecordKey, Result, StoreError, StoredNotice};
use crate::model::preference::{Choice, StoredChoice};
use crate::model::Role;

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored; the new version.
    Stored(i64),
    /// The stored version was not the one the form was made from (a replayed or stale form).
    Stale,
}

/// A choice stored by another instance on the same database (PostgreSQL `NOTIFY`), for the
/// instances that did not take it: they load the choices again and re-plan, as the one that
/// took it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceChanged {
    /// One person's choice (school, person id).
    Person { school: String, person: String },
    /// Anything may have changed: the notification connection was lost for a while.
    Any,
}

/// A row as both stores select it: school, person, role, choice JSON, links_from, version.
pub(crate) type ChoiceTuple = (String, String, String, String, Option<i64>, i64);

pub(crate) const CHOICE_COLUMNS: &str = "school, person, role, choice, links_from, version";

pub(crate) fn choice_of(t: ChoiceTuple) -> Result<StoredChoice> {
    let (school, person, role, choice, links_from, version) = t;
    let choice: Choice = serde_json::from_str(&choice)
        .map_err(|e| StoreError::Corrupt(format!("preferences of {school}/{person}: {e}")))?;
    Ok(StoredChoice {
        school,
        person,
        role: if role == "student" {
            Role::Student
        } else {
            Role::Guardian
        },
        choice,
        links_from,
        version,
    })
}

#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// Every stored choice (loaded at start and after a change).
    async fn all_choices(&self) -> Result<Vec<StoredChoice>>;
    async fn choice(&self, school: &str, person: &str) -> Result<Option<StoredChoice>>;
    /// Stores `c` if the stored version is still `expected` (0: none stored yet), with its
    /// audit entry in the same transaction. The new version is `at` in milliseconds (at
    /// least one more than the old one).
    async fn set_choice(
        &self,
        c: &StoredChoice,
        expected: i64,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<Written>;
    /// Records with pending notices about these students of a school (to re-plan them).
    async fn pending_records_of_students(
        &self,
        school: &str,
        students: &[String],
    ) -> Result<Vec<RecordKey>>;
    /// Every notice addressed to a person, any state, oldest first (the AVG export).
    async fn notices_of_recipient(&self, school: &str, person: &str) -> Result<Vec<StoredNotice>>;
    /// Choices that other instances on the same database store, as they commit; `None` for a
    /// store that only one instance uses (SQLite).
    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<ChoiceChanged>> {
        None
    }
}

/// The version after `old` when written at `at`.
pub(crate) fn next_version(old: i64, at: DateTime<Utc>) -> i64 {
    super::to_ms(at).max(old + 1)
}
