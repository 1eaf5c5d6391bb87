//! How the pages show instants and notices: in the school's zone, in the page's language;
//! students by id and class, never by name, never a grade.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::texts::text;
use crate::config::Config;
use crate::model::Directory;
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
        "explain": n.reasons.iter().map(|r| crate::policy::explain::describe(r, tz)).collect::<Vec<_>>(),
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
}
