//! Why a notice is due when it is: every rule that moves it leaves a reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Where the timeline starts: the event's `occurred_at`.
    Entered,
    /// The event was planned after it would have been due.
    Late,
    Settle,
    ClassroomRelease,
    NextLesson,
    Embargo,
    MaxHold,
    ReportHours,
    GuardianDelay,
    QuietHours,
    Weekend,
    Holiday,
    DigestSlot,
    PersonalDigest,
    /// The person's own choice on the preference page (a calmer schedule).
    Preference,
    /// `digest.max_per_day` reached: waits for the next day's slot.
    DailyCap,
    /// Push contacts gone or refusing: sent by email instead (`[delivery] fallback`).
    Fallback,
    /// A dead message put back by `rustig resend`.
    Resend,
    /// Released early by an operator (admin API).
    Released,
    /// Cancelled by an operator (admin API): never sent.
    Cancelled,
}

impl Rule {
    /// The stable snake_case name (as serialized), for metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Entered => "entered",
            Rule::Late => "late",
            Rule::Settle => "settle",
            Rule::ClassroomRelease => "classroom_release",
            Rule::NextLesson => "next_lesson",
            Rule::Embargo => "embargo",
            Rule::MaxHold => "max_hold",
            Rule::ReportHours => "report_hours",
            Rule::GuardianDelay => "guardian_delay",
            Rule::QuietHours => "quiet_hours",
            Rule::Weekend => "weekend",
            Rule::Holiday => "holiday",
            Rule::DigestSlot => "digest_slot",
            Rule::PersonalDigest => "personal_digest",
            Rule::Preference => "preference",
            Rule::DailyCap => "daily_cap",
            Rule::Fallback => "fallback",
            Rule::Resend => "resend",
            Rule::Released => "released",
            Rule::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Rule::Entered => "entered",
            Rule::Late => "planned late",
            Rule::Settle => "settle window",
            Rule::ClassroomRelease => "classroom-first",
            Rule::NextLesson => "classroom-first (next lesson)",
            Rule::Embargo => "classroom-first (embargo)",
            Rule::MaxHold => "max hold",
            Rule::ReportHours => "report hours",
            Rule::GuardianDelay => "guardian delay",
            Rule::QuietHours => "quiet hours",
            Rule::Weekend => "weekend",
            Rule::Holiday => "holiday",
            Rule::DigestSlot => "digest slot",
            Rule::PersonalDigest => "personal digest",
            Rule::Preference => "preference",
            Rule::DailyCap => "daily cap",
            Rule::Fallback => "email fallback",
            Rule::Resend => "resent",
            Rule::Released => "released by an operator",
            Rule::Cancelled => "cancelled by an operator",
        }
    }
}

/// One step in a notice's timeline: `rule` moved it from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: Rule,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Reason {
    pub fn moved(
        rule: Rule,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        detail: impl Into<String>,
    ) -> Reason {
        Reason {
            rule,
            from,
            to,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    /// Metric labels and the stored reasons name a rule the same way.
    #[test]
    fn a_rules_name_is_its_serialized_form() {
        for rule in [
            Rule::Entered,
            Rule::Late,
            Rule::Settle,
            Rule::ClassroomRelease,
            Rule::NextLesson,
            Rule::Embargo,
            Rule::MaxHold,
            Rule::ReportHours,
            Rule::GuardianDelay,
            Rule::QuietHours,
            Rule::Weekend,
            Rule::Holiday,
            Rule::DigestSlot,
            Rule::PersonalDigest,
            Rule::Preference,
            Rule::DailyCap,
            Rule::Fallback,
            Rule::Resend,
            Rule::Released,
            Rule::Cancelled,
        ] {
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.name());
        }
    }
}
