//! The calm figures of one school's week: how often families heard from school, whether
//! anything arrived in a blackout, how long guardians waited after the student, and how often
//! grades came after their discussion in class. What a school's wellbeing policy talks about.
//!
//! Pure, and counts only: the figures name no one. The week is Monday 00:00 to Monday 00:00
//! in the school's zone; blackouts are the school's [`Calendar`]'s own answer at the moment
//! of sending.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Serialize, Serializer};

use super::policy_of;
use super::week::BlackoutKind;
use crate::config::Config;
use crate::model::{ChannelKind, Role};
use crate::policy::calendar::resolve_local;
use crate::policy::{Calendar, NoticeKind};

/// What a message carried about one event: `grade`, `absence`, `correction` (the recipient
/// saw an earlier version) or `withdrawal`.
pub type EventKindLabel = NoticeKind;

/// One sent message, or, when a guardian's digest bundled several of their children, its
/// part about one student.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub school: String,
    pub recipient: String,
    pub role: Role,
    pub student: String,
    pub channel: ChannelKind,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The events it carried.
    pub event_ids: Vec<String>,
    /// What it said about each of `event_ids`, in the same order.
    pub kinds: Vec<EventKindLabel>,
    /// For a message with grades: `true` when they were held for classroom-first and came
    /// after the assessment was discussed in class (released, or the next lesson ended),
    /// `false` when they came without (no gate, an embargo, or the gate's max hold ran out).
    /// `None` without grades.
    pub after_discussion: Option<bool>,
}

/// The figures of one week. Nothing personal: counts, shares and durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalmFigures {
    pub school: String,
    /// The Monday the week starts on (local).
    pub week_start: NaiveDate,
    /// Messages sent in the week (to students and guardians).
    pub messages: u32,
    /// Families (a student's guardians together) that got at least one message.
    pub families: u32,
    /// Messages per such family in the week: median and 90th percentile (nearest rank).
    pub per_family_median: f64,
    pub per_family_p90: f64,
    /// Messages sent inside a blackout, by the calendar's kind at that moment (should be 0).
    pub in_quiet_hours: u32,
    pub in_weekend: u32,
    pub in_holidays: u32,
    /// Median, over events both a student and their guardians heard of this week, of the
    /// guardians' first message minus the student's first message.
    #[serde(
        rename = "student_to_guardian_median_seconds",
        serialize_with = "seconds"
    )]
    pub student_to_guardian_median: Option<Duration>,
    /// Of the grades sent this week, the share that came after their discussion in class.
    pub grades_after_discussion_share: Option<f64>,
    /// Corrections and withdrawals that reached a family (per event and student).
    pub corrections_to_families: u32,
}

/// When the student and when the guardians first heard of an event.
type FirstHeard = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_i64(d.num_seconds()),
        None => s.serialize_none(),
    }
}

/// `[start, end)` of the local week that holds `day` (Monday 00:00 to Monday 00:00).
pub fn week_bounds(
    calendar: &Calendar,
    day: NaiveDate,
) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    let start = resolve_local(calendar.tz, monday.and_time(NaiveTime::MIN));
    let end = resolve_local(
        calendar.tz,
        (monday + Duration::days(7)).and_time(NaiveTime::MIN),
    );
    (monday, start, end)
}

/// The blackout a message sent at `t` fell in, by the rule the calendar puts first there.
pub fn blackout_at(calendar: &Calendar, t: DateTime<Utc>) -> Option<BlackoutKind> {
    calendar.blackout_rule(t).and_then(BlackoutKind::of)
}

/// The figures of the week holding `week_start` from `deliveries` (those of other schools or
/// other weeks are left out).
pub fn calm_figures(
    config: &Config,
    school: &str,
    week_start: NaiveDate,
    deliveries: &[Delivery],
) -> CalmFigures {
    let calendar = &policy_of(config, school).calendar;
    let (monday, start, end) = week_bounds(calendar, week_start);
    let week: Vec<&Delivery> = deliveries
        .iter()
        .filter(|d| d.school == school && start <= d.at && d.at < end)
        .collect();

    let mut per_family: HashMap<&str, u32> = HashMap::new();
    for d in week.iter().filter(|d| d.role == Role::Guardian) {
        *per_family.entry(d.student.as_str()).or_default() += 1;
    }
    let mut counts: Vec<f64> = per_family.values().map(|&n| f64::from(n)).collect();
    counts.sort_by(f64::total_cmp);

    let (mut quiet, mut weekend, mut holidays) = (0, 0, 0);
    for d in &week {
        match blackout_at(calendar, d.at) {
            Some(BlackoutKind::Quiet) => quiet += 1,
            Some(BlackoutKind::Weekend) => weekend += 1,
            Some(BlackoutKind::Holiday) => holidays += 1,
            None => {}
        }
    }

    // First message per (event, role).
    let mut first: HashMap<(&str, &str), FirstHeard> = HashMap::new();
    for d in &week {
        for e in &d.event_ids {
            let slot = first.entry((d.student.as_str(), e.as_str())).or_default();
            let side = match d.role {
                Role::Student => &mut slot.0,
                Role::Guardian => &mut slot.1,
            };
            *side = Some(side.map_or(d.at, |t| t.min(d.at)));
        }
    }
    let mut gaps: Vec<Duration> = first
        .values()
        .filter_map(|(s, g)| Some((*g)? - (*s)?))
        .collect();
    gaps.sort();
    let gap_median = match gaps.len() {
        0 => None,
        n if n % 2 == 1 => Some(gaps[n / 2]),
        n => Some(gaps[n / 2 - 1] + (gaps[n / 2] - gaps[n / 2 - 1]) / 2),
    };

    // Per graded event: whether it came after its discussion in class.
    let mut graded: HashMap<(&str, &str), bool> = HashMap::new();
    let mut corrections: HashSet<(&str, &str)> = HashSet::new();
    for d in &week {
        for (e, kind) in d.event_ids.iter().zip(&d.kinds) {
            let key = (d.student.as_str(), e.as_str());
            match kind {
                NoticeKind::Grade => {
                    if let Some(after) = d.after_discussion {
                        let v = graded.entry(key).or_insert(after);
                        *v = *v || after;
                    }
                }
                NoticeKind::Correction | NoticeKind::Withdrawal if d.role == Role::Guardian => {
                    corrections.insert(key);
                }
                _ => {}
            }
        }
    }
    let share = (!graded.is_empty())
        .then(|| graded.values().filter(|&&v| v).count() as f64 / graded.len() as f64);

    CalmFigures {
        school: school.to_string(),
        week_start: monday,
        messages: week.len() as u32,
        families: counts.len() as u32,
        per_family_median: median(&counts),
        per_family_p90: nearest_rank(&counts, 0.9),
        in_quiet_hours: quiet,
        in_weekend: weekend,
        in_holidays: holidays,
        student_to_guardian_median: gap_median,
        grades_after_discussion_share: share,
        corrections_to_families: corrections.len() as u32,
    }
}

/// The median of sorted values (0 for none).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `q` quantile of sorted values by nearest rank (0 for none).
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        let text = "timezone = \"Europe/Amsterdam\"\n\
             [quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n\
             [weekend]\nfrom = \"fri 18:00\"\nuntil = \"mon 07:00\"\n\
             [holidays]\ndates = [\"2026-12-19..2027-01-03\"]\n";
        Config::parse(Path::new("rustig.toml"), text).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(role: Role, student: &str, at_: &str, event: &str, kind: NoticeKind) -> Delivery {
        Delivery {
            school: "coornhert".into(),
            recipient: match role {
                Role::Student => student.to_string(),
                Role::Guardian => format!("g-{student}"),
            },
            role,
            student: student.into(),
            channel: ChannelKind::Email,
            at: at(at_),
            event_ids: vec![event.into()],
            kinds: vec![kind],
            after_discussion: (kind == NoticeKind::Grade).then_some(true),
        }
    }

    #[test]
    fn a_small_week() {
        use NoticeKind::*;
        let c = config();
        let ds = [
            d(
                Role::Student,
                "s1",
                "2026-11-23T11:05:00+01:00",
                "e1",
                Grade,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-11-24T17:00:00+01:00",
                "e1",
                Grade,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-11-25T17:00:00+01:00",
                "e2",
                Absence,
            ),
            d(
                Role::Guardian,
                "s2",
                "2026-11-25T17:00:00+01:00",
                "e3",
                Correction,
            ),
            // Saturday: inside the weekend.
            d(
                Role::Guardian,
                "s2",
                "2026-11-28T10:00:00+01:00",
                "e4",
                Absence,
            ),
            // The next week: left out.
            d(
                Role::Guardian,
                "s2",
                "2026-11-30T10:00:00+01:00",
                "e5",
                Absence,
            ),
        ];
        let f = calm_figures(
            &c,
            "coornhert",
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            &ds,
        );
        assert_eq!(f.week_start, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        assert_eq!(f.messages, 5);
        assert_eq!(f.families, 2);
        assert_eq!((f.per_family_median, f.per_family_p90), (2.0, 2.0));
        assert_eq!((f.in_quiet_hours, f.in_weekend, f.in_holidays), (0, 1, 0));
        assert_eq!(
            f.student_to_guardian_median,
            Some(Duration::hours(29) + Duration::minutes(55))
        );
        assert_eq!(f.grades_after_discussion_share, Some(1.0));
        assert_eq!(f.corrections_to_families, 1);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json["student_to_guardian_median_seconds"],
            29 * 3600 + 55 * 60
        );
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn deliveries_in_blackouts_are_counted_by_the_calendars_first_rule() {
        use NoticeKind::*;
        let c = config();
        let cases = [
            // Week 48: Tuesday 21:00 (quiet), Wednesday 06:59 (quiet), 07:00 (allowed),
            // Friday 18:00 and Sunday noon (weekend), Friday 17:59 (allowed).
            (
                "2026-11-23",
                vec![
                    "2026-11-24T21:00:00+01:00",
                    "2026-11-25T06:59:00+01:00",
                    "2026-11-25T07:00:00+01:00",
                    "2026-11-27T17:59:00+01:00",
                    "2026-11-27T18:00:00+01:00",
                    "2026-11-29T12:00:00+01:00",
                ],
                (2, 2, 0),
            ),
            // Christmas: holiday days, their nights and the weekend in them are holiday.
            (
                "2026-12-21",
                vec![
                    "2026-12-21T10:00:00+01:00",
                    "2026-12-22T23:00:00+01:00",
                    "2026-12-26T12:00:00+01:00",
                ],
                (0, 0, 3),
            ),
            // The Friday before: the evening is the weekend, Saturday is the holiday.
            (
                "2026-12-14",
                vec!["2026-12-18T19:00:00+01:00", "2026-12-19T09:00:00+01:00"],
                (0, 1, 1),
            ),
        ];
        for (week, times, want) in cases {
            let ds: Vec<Delivery> = times
                .iter()
                .map(|t| d(Role::Guardian, "s1", t, "e1", Absence))
                .collect();
            let f = calm_figures(&c, "coornhert", day(week), &ds);
            assert_eq!(
                (f.in_quiet_hours, f.in_weekend, f.in_holidays),
                want,
                "week of {week}"
            );
        }
    }

    #[test]
    fn the_week_is_local_monday_to_monday_also_across_dst() {
        use NoticeKind::*;
        let c = config();
        // Autumn: Monday 19 October 00:00 (+02:00) to Monday 26 October 00:00 (+01:00).
        let (monday, start, end) = week_bounds(&c.policy("").unwrap().calendar, day("2026-10-22"));
        assert_eq!(monday, day("2026-10-19"));
        assert_eq!(start, at("2026-10-19T00:00:00+02:00"));
        assert_eq!(end, at("2026-10-26T00:00:00+01:00"));
        assert_eq!(end - start, Duration::hours(169));
        let ds = [
            d(
                Role::Guardian,
                "s1",
                "2026-10-18T23:59:59+02:00",
                "e0",
                Absence,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-10-19T00:00:00+02:00",
                "e1",
                Absence,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-10-25T23:59:59+01:00",
                "e2",
                Absence,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-10-26T00:00:00+01:00",
                "e3",
                Absence,
            ),
        ];
        let f = calm_figures(&c, "coornhert", day("2026-10-25"), &ds);
        assert_eq!((f.week_start, f.messages), (day("2026-10-19"), 2));
        // Another school's messages are not this school's.
        let mut other = ds[1].clone();
        other.school = "elsewhere".into();
        assert_eq!(
            calm_figures(&c, "coornhert", day("2026-10-19"), &[other]).messages,
            0
        );
    }

    #[test]
    fn per_family_median_and_p90() {
        use NoticeKind::*;
        let c = config();
        let table: [(&[u32], f64, f64); 5] = [
            (&[], 0.0, 0.0),
            (&[3], 3.0, 3.0),
            (&[1, 4], 2.5, 4.0),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5, 9.0),
            (&[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 12], 2.0, 2.0),
        ];
        for (per_family, median, p90) in table {
            let mut ds = Vec::new();
            for (f, n) in per_family.iter().enumerate() {
                for k in 0..*n {
                    ds.push(d(
                        Role::Guardian,
                        &format!("s{f}"),
                        "2026-11-24T17:00:00+01:00",
                        &format!("e{f}-{k}"),
                        Absence,
                    ));
                }
            }
            // Students' own messages are not their family's.
            ds.push(d(
                Role::Student,
                "s0",
                "2026-11-24T12:00:00+01:00",
                "x",
                Grade,
            ));
            let f = calm_figures(&c, "coornhert", day("2026-11-23"), &ds);
            assert_eq!(f.families, per_family.len() as u32, "{per_family:?}");
            assert_eq!(
                (f.per_family_median, f.per_family_p90),
                (median, p90),
                "{per_family:?}"
            );
        }
    }

    #[test]
    fn waits_shares_and_corrections() {
        use NoticeKind::*;
        let c = config();
        let mut undiscussed = d(
            Role::Student,
            "s3",
            "2026-11-23T12:00:00+01:00",
            "e3",
            Grade,
        );
        undiscussed.after_discussion = Some(false);
        let mut unknown = d(
            Role::Student,
            "s4",
            "2026-11-23T12:00:00+01:00",
            "e4",
            Grade,
        );
        unknown.after_discussion = None;
        let ds = [
            // e1: student Monday 11:00, guardians Tuesday 17:00 (and a second at 17:05).
            d(
                Role::Student,
                "s1",
                "2026-11-23T11:00:00+01:00",
                "e1",
                Grade,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-11-24T17:00:00+01:00",
                "e1",
                Grade,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-11-24T17:05:00+01:00",
                "e1",
                Grade,
            ),
            // e2: 1 hour apart; e5: only the guardians heard (no student contact): no gap.
            d(
                Role::Student,
                "s2",
                "2026-11-25T10:00:00+01:00",
                "e2",
                Grade,
            ),
            d(
                Role::Guardian,
                "s2",
                "2026-11-25T11:00:00+01:00",
                "e2",
                Grade,
            ),
            d(
                Role::Guardian,
                "s5",
                "2026-11-25T11:00:00+01:00",
                "e5",
                Grade,
            ),
            undiscussed,
            unknown,
            // Corrections and withdrawals: to a family once per event, not to the student.
            d(
                Role::Guardian,
                "s1",
                "2026-11-26T17:00:00+01:00",
                "c1",
                Correction,
            ),
            d(
                Role::Guardian,
                "s1",
                "2026-11-26T17:00:00+01:00",
                "c1",
                Correction,
            ),
            d(
                Role::Guardian,
                "s2",
                "2026-11-26T17:00:00+01:00",
                "w1",
                Withdrawal,
            ),
            d(
                Role::Student,
                "s3",
                "2026-11-26T12:00:00+01:00",
                "c3",
                Correction,
            ),
        ];
        let f = calm_figures(&c, "coornhert", day("2026-11-23"), &ds);
        // Gaps: 30h and 1h; median (even) the mean of the two.
        assert_eq!(
            f.student_to_guardian_median,
            Some((Duration::hours(30) + Duration::hours(1)) / 2)
        );
        // Grades e1, e2, e5 after discussion, e3 not, e4 unknown (left out): 3 of 4.
        assert_eq!(f.grades_after_discussion_share, Some(0.75));
        assert_eq!(f.corrections_to_families, 2);
    }
}
