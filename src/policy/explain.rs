//! Plain-words explanations of a plan, for `rustig explain` and `simulate --explain`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::policy::planner::{Notice, Suppressed};
use crate::policy::reason::{Reason, Rule};

/// "Tue 24 Nov 17:00" in the school's zone.
pub fn local_short(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string()
}

fn same_day(a: DateTime<Utc>, b: DateTime<Utc>, tz: Tz) -> bool {
    a.with_timezone(&tz).date_naive() == b.with_timezone(&tz).date_naive()
}

/// One reason in words: "guardian delay 24h → Tue 11:05".
pub fn describe(r: &Reason, tz: Tz) -> String {
    let to = if same_day(r.from, r.to, tz) {
        r.to.with_timezone(&tz).format("%H:%M").to_string()
    } else {
        local_short(r.to, tz)
    };
    match r.rule {
        Rule::Entered => format!("entered {}", local_short(r.to, tz)),
        _ if r.detail.is_empty() => format!("{} → {to}", r.rule.label()),
        _ => format!("{}: {} → {to}", r.rule.label(), r.detail),
    }
}

/// `guardian g-2001 email: due Tue 24 Nov 17:00 — entered …; guardian delay 24h → …`
pub fn notice_line(n: &Notice, tz: Tz) -> String {
    let chain: Vec<String> = n.reasons.iter().map(|r| describe(r, tz)).collect();
    format!(
        "{} {} {} ({}): due {} — {}",
        n.role.as_str(),
        n.recipient,
        n.channel.as_str(),
        n.kind.as_str(),
        local_short(n.due_at, tz),
        chain.join("; ")
    )
}

pub fn suppressed_line(s: &Suppressed) -> String {
    match (&s.role, &s.recipient) {
        (Some(role), Some(r)) => format!("{} {r}: nothing — {} ({})", role.as_str(), s.why, s.rule),
        _ => format!("nobody: {} ({})", s.why, s.rule),
    }
}
