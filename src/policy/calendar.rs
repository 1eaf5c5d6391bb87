//! When delivery is allowed: quiet hours, weekend and holidays, evaluated in the school's zone.
//!
//! Everything here is pure: instants in, instants out. Local wall-clock targets ("07:00") are
//! resolved to UTC per date, so a quiet window that ends at 07:00 ends at 07:00 local on the
//! DST days too.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::model::directory::Lesson;
use crate::model::time::{minute_of_day, DateRange, WeekTime};
use crate::policy::reason::{Reason, Rule};

/// The most rule moves we follow before declaring an instant unreachable.
const MAX_MOVES: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub tz: Tz,
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    pub weekend: Option<(WeekTime, WeekTime)>,
    pub holidays: Vec<DateRange>,
}

/// No allowed instant was found within the search bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no allowed delivery time found after {from}: {why}")]
pub struct Unreachable {
    pub from: DateTime<Utc>,
    pub why: String,
}

/// The first instant whose local wall-clock reading is at or after `local` in `tz`.
/// Ambiguous readings (autumn) take the earlier instant; readings that do not exist (the
/// spring gap) take the end of the gap.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..=24 * 60 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    // No zone has a gap of a day; treat the reading as UTC rather than panic.
    Utc.from_utc_datetime(&local)
}

impl Calendar {
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.tz)
    }

    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.iter().any(|r| r.contains(d))
    }

    /// Weekdays that are not holidays.
    pub fn is_school_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_holiday(d)
    }

    /// The date `n` school days after `d` (0 → `d` itself).
    pub fn add_school_days(&self, d: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut day = d;
        let mut left = n;
        for _ in 0..3_700 {
            if left == 0 {
                return Some(day);
            }
            day = day.succ_opt()?;
            if self.is_school_day(day) {
                left -= 1;
            }
        }
        None
    }

    fn quiet_end(&self, local: &DateTime<Tz>) -> Option<NaiveDateTime> {
        let (start, end) = self.quiet?;
        let tod = local.time();
        let date = local.date_naive();
        if start > end {
            if tod >= start {
                Some(date.succ_opt()?.and_time(end))
            } else if tod < end {
                Some(date.and_time(end))
            } else {
                None
            }
        } else if start <= tod && tod < end {
            Some(date.and_time(end))
        } else {
            None
        }
    }

    fn weekend_end(&self, local: &DateTime<Tz>) -> Option<NaiveDateTime> {
        let (from, until) = self.weekend?;
        let pos = local.weekday().num_days_from_monday() * 1440 + minute_of_day(local.time());
        let (f, u) = (from.minute_of_week(), until.minute_of_week());
        let inside = if f < u {
            f <= pos && pos < u
        } else {
            pos >= f || pos < u
        };
        if !inside {
            return None;
        }
        let wd = local.weekday().num_days_from_monday();
        let mut days = (until.weekday.num_days_from_monday() + 7 - wd) % 7;
        if days == 0 && local.time() >= until.time {
            days = 7;
        }
        Some((local.date_naive() + Duration::days(days as i64)).and_time(until.time))
    }

    fn holiday_end(&self, local: &DateTime<Tz>) -> Option<NaiveDateTime> {
        let d = local.date_naive();
        let r = self.holidays.iter().find(|r| r.contains(d))?;
        Some(r.last.succ_opt()?.and_time(NaiveTime::MIN))
    }

    /// The first blackout rule that covers `t`, and the local reading at which it ends.
    fn blackout(&self, t: DateTime<Utc>) -> Option<(Rule, NaiveDateTime)> {
        let local = self.local(t);
        if let Some(end) = self.holiday_end(&local) {
            return Some((Rule::Holiday, end));
        }
        if let Some(end) = self.weekend_end(&local) {
            return Some((Rule::Weekend, end));
        }
        self.quiet_end(&local).map(|end| (Rule::QuietHours, end))
    }

    /// The rule that blacks out `t`, if any: a holiday before the weekend before quiet hours
    /// (the order in which [`Calendar::next_allowed`] names them).
    pub fn blackout_rule(&self, t: DateTime<Utc>) -> Option<Rule> {
        self.blackout(t).map(|(rule, _)| rule)
    }

    pub fn is_allowed(&self, t: DateTime<Utc>) -> bool {
        self.blackout(t).is_none()
    }

    /// The first allowed instant at or after `t`, recording each move in `reasons`.
    pub fn next_allowed(
        &self,
        t: DateTime<Utc>,
        reasons: &mut Vec<Reason>,
    ) -> Result<DateTime<Utc>, Unreachable> {
        let mut now = t;
        for _ in 0..MAX_MOVES {
            let Some((rule, end_local)) = self.blackout(now) else {
                return Ok(now);
            };
            let mut end = resolve_local(self.tz, end_local);
            if end <= now {
                // An ambiguous autumn reading resolved to the earlier instant; take the later.
                end = self
                    .tz
                    .from_local_datetime(&end_local)
                    .latest()
                    .map(|x| x.with_timezone(&Utc))
                    .unwrap_or(end);
                if end <= now {
                    end = now + Duration::minutes(1);
                }
            }
            reasons.push(Reason::moved(rule, now, end, ""));
            now = end;
        }
        Err(Unreachable {
            from: t,
            why: "quiet hours, weekend and holidays leave no time free".into(),
        })
    }

    /// The end of the first lesson that starts after `after`, on a school day.
    pub fn next_lesson_end(
        &self,
        lessons: &[Lesson],
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut sorted: Vec<&Lesson> = lessons.iter().collect();
        sorted.sort_by_key(|l| (l.weekday.num_days_from_monday(), l.start));
        let first_day = self.local(after).date_naive();
        let mut day = first_day;
        loop {
            if resolve_local(self.tz, day.and_time(NaiveTime::MIN)) > horizon {
                return None;
            }
            if self.is_school_day(day) {
                for l in sorted.iter().filter(|l| l.weekday == day.weekday()) {
                    if resolve_local(self.tz, day.and_time(l.start)) > after {
                        return Some(resolve_local(self.tz, day.and_time(l.end)));
                    }
                }
            }
            day = day.succ_opt()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ams() -> Calendar {
        Calendar {
            tz: chrono_tz::Europe::Amsterdam,
            quiet: Some((
                NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            )),
            weekend: Some(("fri 18:00".parse().unwrap(), "mon 07:00".parse().unwrap())),
            holidays: vec!["2026-12-19..2027-01-03".parse().unwrap()],
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn table_of_next_allowed() {
        let c = ams();
        let cases = [
            // Plain school day, inside allowed hours: unchanged.
            (
                "2026-11-24T10:00:00+01:00",
                "2026-11-24T10:00:00+01:00",
                vec![],
            ),
            // Evening → next morning 07:00.
            (
                "2026-11-24T21:14:00+01:00",
                "2026-11-25T07:00:00+01:00",
                vec![Rule::QuietHours],
            ),
            // Early morning → same morning.
            (
                "2026-11-25T06:59:00+01:00",
                "2026-11-25T07:00:00+01:00",
                vec![Rule::QuietHours],
            ),
            // Exactly 20:00 is quiet; exactly 07:00 is not.
            (
                "2026-11-24T20:00:00+01:00",
                "2026-11-25T07:00:00+01:00",
                vec![Rule::QuietHours],
            ),
            (
                "2026-11-25T07:00:00+01:00",
                "2026-11-25T07:00:00+01:00",
                vec![],
            ),
            // Friday evening → Monday 07:00.
            (
                "2026-11-20T21:14:00+01:00",
                "2026-11-23T07:00:00+01:00",
                vec![Rule::Weekend],
            ),
            // Sunday afternoon → Monday 07:00.
            (
                "2026-11-22T15:00:00+01:00",
                "2026-11-23T07:00:00+01:00",
                vec![Rule::Weekend],
            ),
            // Friday 17:59 is still allowed.
            (
                "2026-11-20T17:59:00+01:00",
                "2026-11-20T17:59:00+01:00",
                vec![],
            ),
            // Christmas holiday → Monday 4 January 07:00 (weekend, holiday, then the weekend's end).
            (
                "2026-12-18T19:00:00+01:00",
                "2027-01-04T07:00:00+01:00",
                vec![Rule::Weekend, Rule::Holiday, Rule::Weekend],
            ),
            // DST spring (Sun 29 Mar 2026) and autumn (Sun 25 Oct 2026): 07:00 local on Monday.
            (
                "2026-03-28T12:00:00+01:00",
                "2026-03-30T07:00:00+02:00",
                vec![Rule::Weekend],
            ),
            (
                "2026-10-24T12:00:00+02:00",
                "2026-10-26T07:00:00+01:00",
                vec![Rule::Weekend],
            ),
        ];
        for (from, want, rules) in cases {
            let mut reasons = vec![];
            let got = c.next_allowed(at(from), &mut reasons).unwrap();
            assert_eq!(got, at(want), "from {from}");
            assert_eq!(
                reasons.iter().map(|r| r.rule).collect::<Vec<_>>(),
                rules,
                "from {from}"
            );
        }
    }

    #[test]
    fn quiet_hours_end_at_local_time_on_dst_nights() {
        let c = Calendar {
            weekend: None,
            holidays: vec![],
            ..ams()
        };
        // The nights of the DST changes are 23 and 25 hours long; 07:00 is still 07:00.
        let spring = c
            .next_allowed(at("2026-03-28T22:00:00+01:00"), &mut vec![])
            .unwrap();
        assert_eq!(spring, at("2026-03-29T07:00:00+02:00"));
        let autumn = c
            .next_allowed(at("2026-10-24T22:00:00+02:00"), &mut vec![])
            .unwrap();
        assert_eq!(autumn, at("2026-10-25T07:00:00+01:00"));
    }

    #[test]
    fn local_readings_in_the_gap_and_the_overlap() {
        let tz = chrono_tz::Europe::Amsterdam;
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(resolve_local(tz, gap), at("2026-03-29T03:00:00+02:00"));
        let overlap = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(resolve_local(tz, overlap), at("2026-10-25T02:30:00+02:00"));
    }

    #[test]
    fn whole_day_quiet_is_unreachable() {
        let t = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
        let c = Calendar {
            tz: chrono_tz::Europe::Amsterdam,
            quiet: Some((t, t + Duration::minutes(0))),
            weekend: Some(("mon 00:00".parse().unwrap(), "mon 00:00".parse().unwrap())),
            holidays: vec![],
        };
        assert!(c
            .next_allowed(at("2026-11-24T10:00:00+01:00"), &mut vec![])
            .is_err());
    }

    #[test]
    fn school_days_and_lessons() {
        let c = ams();
        let fri = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(
            c.add_school_days(fri, 1),
            NaiveDate::from_ymd_opt(2026, 11, 23)
        );
        let before_xmas = NaiveDate::from_ymd_opt(2026, 12, 18).unwrap();
        assert_eq!(
            c.add_school_days(before_xmas, 1),
            NaiveDate::from_ymd_opt(2027, 1, 4)
        );
        let lessons: Vec<Lesson> = vec![
            "mon 10:15-11:05".parse().unwrap(),
            "thu 08:30-09:20".parse().unwrap(),
        ];
        let end = c
            .next_lesson_end(
                &lessons,
                at("2026-11-20T21:14:00+01:00"),
                at("2026-12-31T00:00:00+01:00"),
            )
            .unwrap();
        assert_eq!(end, at("2026-11-23T11:05:00+01:00"));
        // Entered during Monday's lesson: the next one is Thursday's.
        let end = c
            .next_lesson_end(
                &lessons,
                at("2026-11-23T10:30:00+01:00"),
                at("2026-12-31T00:00:00+01:00"),
            )
            .unwrap();
        assert_eq!(end, at("2026-11-26T09:20:00+01:00"));
        // Over the holiday: the first lesson after it.
        let end = c
            .next_lesson_end(
                &lessons,
                at("2026-12-18T12:00:00+01:00"),
                at("2027-02-01T00:00:00+01:00"),
            )
            .unwrap();
        assert_eq!(end, at("2027-01-04T11:05:00+01:00"));
        assert!(c
            .next_lesson_end(
                &lessons,
                at("2026-12-18T12:00:00+01:00"),
                at("2026-12-25T00:00:00+01:00")
            )
            .is_none());
    }
}
