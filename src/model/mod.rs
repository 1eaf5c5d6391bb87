//! The data rustig reads: events from the SIS and the directory of people to notify.

pub mod contact;
pub mod directory;
pub mod event;
pub mod ndjson;
pub mod preference;
pub mod reachability;
pub mod schedule;
pub mod schema;
pub mod time;
pub mod validate;

pub use contact::{ChannelKind, Contact};
pub use directory::Directory;
pub use event::{AbsenceKind, Event, EventBody, EventError, GradeKind};
pub use schema::{Role, Student};

use serde::{Deserialize, Serialize};

/// The language a recipient reads; Dutch unless the directory says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Nl,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Nl => "nl",
            Locale::En => "en",
        }
    }

    pub fn parse(s: &str) -> Locale {
        if s.eq_ignore_ascii_case("en") {
            Locale::En
        } else {
            Locale::Nl
        }
    }
}
