//! Digest slots: never before the policy's due time, always an allowed instant, on the
//! schedule's local wall-clock time, also in the DST weeks.

use std::path::Path;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use proptest::prelude::*;
use rustig::config::Config;
use rustig::policy::{Policy, Schedule};

fn policy() -> Policy {
    let text = "timezone = \"Europe/Amsterdam\"\n[holidays]\ndates = [\"2026-12-19..2027-01-03\", \"2026-04-27\"]\n";
    Config::parse(Path::new("t.toml"), text)
        .unwrap()
        .default_policy
}

/// Instants over 2026, half of them in the DST weeks and around Christmas.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let hot = [
        "2026-03-26T00:00:00Z",
        "2026-10-22T00:00:00Z",
        "2026-12-16T00:00:00Z",
    ]
    .map(|s| s.parse::<DateTime<Utc>>().unwrap());
    prop_oneof![
        (0i64..365 * 24 * 60).prop_map(move |m| start + Duration::minutes(m)),
        (0usize..3, 0i64..7 * 24 * 60).prop_map(move |(i, m)| hot[i] + Duration::minutes(m)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn slots_are_allowed_on_time_and_never_early(
        t in instant(),
        (line, hour, minute, days) in prop_oneof![
            Just(("0 17 * * mon-fri", 17u32, 0u32, "12345")),
            Just(("30 7 * * 1-5", 7, 30, "12345")),
            Just(("15 12 * * *", 12, 15, "1234567")),
            Just(("0 9 * * mon,wed,fri", 9, 0, "135")),
        ],
    ) {
        let p = policy();
        let s = Schedule::parse(line).unwrap();
        let slot = s.next_slot(t, &p.calendar).unwrap().unwrap();
        prop_assert!(slot >= t);
        prop_assert!(p.calendar.is_allowed(slot));
        let local = slot.with_timezone(&p.calendar.tz);
        prop_assert_eq!((local.hour(), local.minute()), (hour, minute));
        prop_assert!(days.contains(char::from_digit(local.weekday().number_from_monday(), 10).unwrap()));
        // It is the first such slot: nothing allowed on the schedule lies between t and it.
        let mut probe = t;
        while probe < slot {
            let l = probe.with_timezone(&p.calendar.tz);
            let day = char::from_digit(l.weekday().number_from_monday(), 10).unwrap();
            let on_schedule = (l.hour(), l.minute()) == (hour, minute) && days.contains(day);
            prop_assert!(!(on_schedule && p.calendar.is_allowed(probe)), "an earlier slot {} was skipped", probe);
            probe += Duration::minutes(1);
        }
    }
}
