//! What a family chose on its preference page, as stored (table `preferences`, migration
//! 0040), separate from the directory the school imports. The rules of what may be chosen
//! are in `crate::policy::preference`; this is only the data.

use std::collections::HashMap;

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::model::{ChannelKind, Locale, Role};

/// How often a guardian hears from the school. Never sooner than the school's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "every")]
pub enum Frequency {
    /// As soon as the school's rules allow (no personal schedule).
    Asap,
    /// The school's daily moment (its guardian digest, or 17:00 on school days).
    Daily,
    /// Friday 17:00.
    Weekly,
    /// A day (or every school day) and a time of the person's own.
    Custom {
        /// `None`: every weekday.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        day: Option<Weekday>,
        time: NaiveTime,
    },
}

/// A student's own messages: at once or bundled daily.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnMessages {
    Immediate,
    Daily,
}

/// One person's stored choices; a field left `None` keeps what the school decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Guardians: how often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Frequency>,
    /// Guardians and students: channels switched off (at least one stays on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels_off: Vec<ChannelKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// Students: may guardians see grades (report grades of a minor always reach them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_grades: Option<bool>,
    /// Students: may guardians see absences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_absences: Option<bool>,
    /// Students: their own messages at once or daily.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own: Option<OwnMessages>,
}

impl Choice {
    pub fn is_empty(&self) -> bool {
        *self == Choice::default()
    }
}

/// A stored choice with who it belongs to and its version (for replay-safe updates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChoice {
    pub school: String,
    pub person: String,
    pub role: Role,
    pub choice: Choice,
    /// Links signed before this instant (unix seconds) are revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links_from: Option<i64>,
    /// Milliseconds since the epoch of the last change; 0 before the first.
    pub version: i64,
}

/// Every stored choice by (school, person id).
pub type Choices = HashMap<(String, String), Choice>;

/// The planner's view of stored choices.
pub fn choices_of(all: Vec<StoredChoice>) -> Choices {
    all.into_iter()
        .filter(|c| !c.choice.is_empty())
        .map(|c| ((c.school, c.person), c.choice))
        .collect()
}
