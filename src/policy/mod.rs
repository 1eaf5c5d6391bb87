//! The pure core: the school's release rules and the planner that applies them.
//!
//! Nothing in here reads a clock, touches a file or the network; `now` is an argument.

pub mod calendar;
pub mod explain;
pub mod planner;
pub mod preference;
pub mod reason;
pub mod release;
pub mod schedule;

use std::collections::BTreeMap;

use chrono::Duration;
use serde::Deserialize;

use crate::model::time::DayWindow;
use crate::model::AbsenceKind;

pub use calendar::Calendar;
pub use planner::{plan, Delivered, Facts, Notice, NoticeKind, Plan, Suppressed};
pub use reason::{Reason, Rule};
pub use schedule::Schedule;

/// The effective rules of one school, after merging the global tables with its overrides.
#[derive(Debug, Clone)]
pub struct Policy {
    pub school: String,
    pub school_name: String,
    pub calendar: Calendar,
    pub grades: GradesPolicy,
    pub absences: AbsencesPolicy,
    pub digest: DigestPolicy,
    pub consent: ConsentPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassroomFirst {
    Off,
    Release,
    NextLesson,
    Embargo,
}

impl ClassroomFirst {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassroomFirst::Off => "off",
            ClassroomFirst::Release => "release",
            ClassroomFirst::NextLesson => "next_lesson",
            ClassroomFirst::Embargo => "embargo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardianGrades {
    All,
    ReportOnly,
    None,
}

impl GuardianGrades {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardianGrades::All => "all",
            GuardianGrades::ReportOnly => "report_only",
            GuardianGrades::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GradesPolicy {
    pub classroom_first: ClassroomFirst,
    pub embargo_school_days: u32,
    pub max_hold: Duration,
    pub guardian_delay: Duration,
    pub guardians: GuardianGrades,
    pub push_shows_value: bool,
    /// Report grades reach students only inside this window on a school day (mentor around).
    pub report_hours: Option<DayWindow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceMode {
    Immediate,
    Digest,
    None,
}

impl AbsenceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AbsenceMode::Immediate => "immediate",
            AbsenceMode::Digest => "digest",
            AbsenceMode::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AbsencesPolicy {
    pub settle: Duration,
    pub guardians: BTreeMap<AbsenceKind, AbsenceMode>,
}

impl AbsencesPolicy {
    /// Kinds the operator did not list: alarming ones right away, the rest not at all.
    pub fn default_mode(kind: AbsenceKind) -> AbsenceMode {
        match kind {
            AbsenceKind::Unauthorized | AbsenceKind::Removed => AbsenceMode::Immediate,
            AbsenceKind::Late => AbsenceMode::Digest,
            _ => AbsenceMode::None,
        }
    }

    pub fn mode(&self, kind: AbsenceKind) -> AbsenceMode {
        self.guardians
            .get(&kind)
            .copied()
            .unwrap_or_else(|| Self::default_mode(kind))
    }
}

#[derive(Debug, Clone)]
pub struct DigestPolicy {
    pub students: Schedule,
    pub guardians: Schedule,
    pub max_per_day: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentControls {
    Never,
    #[serde(rename = "from_16")]
    From16,
    Always,
}

impl StudentControls {
    pub fn as_str(self) -> &'static str {
        match self {
            StudentControls::Never => "never",
            StudentControls::From16 => "from_16",
            StudentControls::Always => "always",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ConsentPolicy {
    pub student_controls: StudentControls,
    pub adult_needs_consent: bool,
}
