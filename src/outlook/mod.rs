//! The outlook of a school's buffer, for the operators' dashboard: the week ahead (pending
//! releases per hour against the blackouts), the calm figures of a past week (how often
//! families heard from school, and whether the rules held), and the school's rules in plain
//! language. Pure: the store lists what it holds ([`week::PendingItem`], [`calm::Delivery`]),
//! these functions count; `now` is an argument, nothing is read.
//!
//! Nothing personal leaves [`calm`]: counts and durations only. The week's bars name no one;
//! what a bar holds (students by id and class, never a grade) is the admin API's to list.

pub mod calm;
pub mod rules;
pub mod week;

pub use calm::{calm_figures, CalmFigures, Delivery, EventKindLabel};
pub use week::{week_ahead, Blackout, BlackoutKind, HourBar, PendingItem, WeekAhead};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Config;
use crate::policy::Policy;

/// The school's rules in force, or the global ones when the config has no `[schools.*]`
/// table (every school then follows them).
pub fn policy_of<'c>(config: &'c Config, school: &str) -> &'c Policy {
    config.policy(school).unwrap_or(&config.default_policy)
}

/// Serializes a zone by its IANA name.
pub(crate) fn zone_name<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// The start of the local hour `t` falls in (in zones whose offsets are whole hours, the
/// UTC hour; in others, the local one).
pub fn local_hour_floor(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    use chrono::Timelike;
    let local = t.with_timezone(&tz);
    let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
    t - chrono::Duration::seconds(into_hour)
        - chrono::Duration::nanoseconds(local.nanosecond() as i64)
}
