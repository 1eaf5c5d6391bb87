//! How the pages show instants and notices: in the school's zone, in the page's language;
//! students by id and class, never by name, never a grade.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::texts::text;
use crate::config::Config;
use crate::model::Directory;
use crate::policy::{Reason, Rule};
use crate::store::admin::NoticeRow;

const DAYS_NL: [&str; 7] = ["ma", "di", "wo", "do", "vr", "za", "zo"];
const DAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS_NL: [&str; 12] = [
    "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];
const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "ma 23 nov 09:05" / "Mon 23 Nov 09:05", in `tz`.
pub fn when(t: DateTime<Utc>, tz: Tz, nl: bool) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {:02}:{:02}",
        day(l.date_naive(), nl),
        l.hour(),
        l.minute()
    )
}

/// "ma 23 nov" / "Mon 23 Nov".
pub fn day(d: chrono::NaiveDate, nl: bool) -> String {
    let w = d.weekday().num_days_from_monday() as usize;
    let m = d.month0() as usize;
    if nl {
        format!("{} {} {}", DAYS_NL[w], d.day(), MONTHS_NL[m])
    } else {
        format!("{} {} {}", DAYS_EN[w], d.day(), MONTHS_EN[m])
    }
}

/// A school's display name.
pub fn school_name(config: &Config, school: &str) -> String {
    config
        .policy(school)
        .map(|p| p.school_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| school.to_string())
}

/// One step of a notice's reason chain in the page's language: the rule and the instants in
/// words ("ouderuitstel: 24h → di 24 nov 11:05"); the detail (a schedule line, a duration, an
/// operator's note) as configured or typed. English is `rustig explain`'s wording.
pub fn reason(r: &Reason, tz: Tz, nl: bool) -> String {
    if !nl {
        return crate::policy::explain::describe(r, tz);
    }
    let same_day = r.from.with_timezone(&tz).date_naive() == r.to.with_timezone(&tz).date_naive();
    let to = if same_day {
        r.to.with_timezone(&tz).format("%H:%M").to_string()
    } else {
        when(r.to, tz, true)
    };
    match r.rule {
        Rule::Entered => format!("ingevoerd {}", when(r.to, tz, true)),
        _ if r.detail.is_empty() => format!("{} → {to}", rule_nl(r.rule)),
        _ => format!("{}: {} → {to}", rule_nl(r.rule), r.detail),
    }
}

/// A rule's name in Dutch, as the pages' texts call it.
fn rule_nl(rule: Rule) -> &'static str {
    match rule {
        Rule::Entered => "ingevoerd",
        Rule::Late => "te laat ingepland",
        Rule::Settle => "bedenktijd",
        Rule::ClassroomRelease => "eerst in de klas",
        Rule::NextLesson => "eerst in de klas (volgende les)",
        Rule::Embargo => "eerst in de klas (embargo)",
        Rule::MaxHold => "maximale wachttijd",
        Rule::ReportHours => "rapporturen",
        Rule::GuardianDelay => "ouderuitstel",
        Rule::QuietHours => "stille uren",
        Rule::Weekend => "weekend",
        Rule::Holiday => "vakantie",
        Rule::DigestSlot => "bundelmoment",
        Rule::PersonalDigest => "eigen bundelmoment",
        Rule::Preference => "eigen keuze",
        Rule::DailyCap => "dagmaximum",
        Rule::Fallback => "e-mail in plaats van push",
        Rule::Resend => "opnieuw verstuurd",
        Rule::Released => "vrijgegeven door beheerder",
        Rule::Cancelled => "geannuleerd door beheerder",
    }
}

/// A notice as the pages list it.
pub fn notice(row: &NoticeRow, config: &Config, dir: &Directory, nl: bool) -> Value {
    let n = &row.notice;
    let tz = crate::admin::api::zone(config, &n.school);
    let class = dir
        .student(&n.school, &n.student)
        .map(|s| s.class.clone())
        .filter(|c| !c.is_empty());
    json!({
        "id": n.id,
        "school": n.school,
        "school_name": school_name(config, &n.school),
        "student": n.student,
        "class": class,
        "recipient": n.recipient,
        "role": text(nl, &format!("role_{}", n.role.as_str())),
        "channel": n.channel.as_str(),
        "kind": text(nl, &format!("kind_{}", n.kind.as_str())),
        "state": n.state,
        "state_label": text(nl, &format!("state_{}", n.state)),
        "due": when(n.due_at, tz, nl),
        "sent": row.sent_at.map(|t| when(t, tz, nl)),
        "attempts": n.attempts,
        "last_error": n.last_error,
        "explain": n.reasons.iter().map(|r| reason(r, tz, nl)).collect::<Vec<_>>(),
        "pending": n.state == "pending",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_the_school_zone_and_language() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T08:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        assert_eq!(when(t, tz, true), "ma 23 nov 09:05");
        assert_eq!(when(t, tz, false), "Mon 23 Nov 09:05");
    }

    #[test]
    fn reason_chains_in_the_pages_language() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let entered = Reason::moved(
            Rule::Entered,
            at("2026-11-23T10:05:00Z"),
            at("2026-11-23T10:05:00Z"),
            "",
        );
        let delay = Reason::moved(
            Rule::GuardianDelay,
            at("2026-11-23T10:05:00Z"),
            at("2026-11-24T10:05:00Z"),
            "24h",
        );
        let quiet = Reason::moved(
            Rule::QuietHours,
            at("2026-11-24T20:00:00Z"),
            at("2026-11-24T21:30:00Z"),
            "",
        );
        assert_eq!(reason(&entered, tz, true), "ingevoerd ma 23 nov 11:05");
        assert_eq!(
            reason(&delay, tz, true),
            "ouderuitstel: 24h → di 24 nov 11:05"
        );
        assert_eq!(reason(&quiet, tz, true), "stille uren → 22:30");
        assert_eq!(
            reason(&delay, tz, false),
            crate::policy::explain::describe(&delay, tz)
        );
    }
}
