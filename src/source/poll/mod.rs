//! Poll and diff: for systems without webhooks (SOMtoday, Smartschool, an export folder).
//! A source fetches what the SIS holds now for one scope (a student, an export file, a range
//! of dates), [`diff`] compares it with the scope's stored snapshot and turns the differences
//! into v1 events, and [`commit::Committer`] stores the events first and the new snapshot
//! after. Event ids come from (source, scope, key, version, digest): a crash between the two
//! commits repeats the same ids, which ingest ignores.

pub mod commit;
pub mod diff;
pub mod fetch;
pub mod pace;

use chrono::{DateTime, FixedOffset};

use crate::model::event::{Absence, Grade};

/// A grade or an absence as the SIS has it now, in the event schema's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Unique within the scope; what the next poll recognizes the item by.
    pub key: String,
    /// The event `record` (unique within the school).
    pub record: String,
    pub student: String,
    pub body: ItemBody,
    /// When the SIS says it was entered, if it says (most do not).
    pub at: Option<DateTime<FixedOffset>>,
    /// The slice of the source it came from (the date of an absence list).
    pub part: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemBody {
    Grade(Grade),
    Absence(Absence),
}

impl ItemBody {
    pub fn kind(&self) -> &'static str {
        match self {
            ItemBody::Grade(_) => "grade",
            ItemBody::Absence(_) => "absence",
        }
    }
}

/// Input a source could not turn into an item. It is quarantined once (the same raw input
/// again is not quarantined again) and the rest of the poll goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct BadInput {
    /// The item it would have been, when that much was readable: its last good state stays
    /// (a broken row is not a withdrawal). A key ending in "/" stands for every key under it.
    pub key: Option<String>,
    /// Where: "cijfers.csv line 12", "getAbsentsByDate 2026-11-23 user 1234", …
    pub place: String,
    /// The column or field at fault ("" when the whole input is).
    pub field: String,
    pub message: String,
    pub raw: Vec<u8>,
}

impl BadInput {
    /// An answer that is not JSON at all, with the line and column where it broke.
    pub fn not_json(place: &str, e: &serde_json::Error, raw: &[u8]) -> BadInput {
        BadInput {
            key: None,
            place: format!("{place} line {} column {}", e.line(), e.column()),
            field: String::new(),
            message: format!("not valid JSON: {e}"),
            raw: raw.to_vec(),
        }
    }
}

/// One scope's fetch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub items: Vec<Item>,
    pub bad: Vec<BadInput>,
    /// The parts this fetch covered completely; `None` when it covered the whole scope. Items
    /// of other parts are left as they are (not withdrawn).
    pub parts: Option<Vec<String>>,
    /// Rows of parts that sort before this are forgotten (a date that left the window).
    pub prune_before: Option<String>,
    /// Stored with the snapshot (the export file's identity, an events index).
    pub cursor: Option<String>,
}

/// A secret from a file (a client secret, an access code): trimmed, and not empty.
pub fn read_secret(what: &str, path: &std::path::Path) -> Result<String, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("reading {what} {}: {e}", path.display()))?
        .trim()
        .to_string();
    if s.is_empty() {
        return Err(format!("{what} {} is empty", path.display()));
    }
    Ok(s)
}
