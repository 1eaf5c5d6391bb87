//! When a digest schedule fires: its next slot that the school's calendar allows.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::policy::calendar::Calendar;

pub use crate::model::schedule::Schedule;

/// Slots we look at before concluding that a schedule never fires at an allowed time.
const MAX_SLOTS: usize = 5_000;

impl Schedule {
    /// The first slot at or after `t` that is itself an allowed instant of `cal`.
    /// `Ok(None)` for `immediate`; `Err` when no allowed slot comes within the search bound.
    pub fn next_slot(
        &self,
        t: DateTime<Utc>,
        cal: &Calendar,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let Schedule::Cron { cron, line } = self else {
            return Ok(None);
        };
        let start = (t - Duration::seconds(1)).with_timezone(&cal.tz);
        for slot in cron.after::<Tz>(&start).take(MAX_SLOTS) {
            let slot = slot.with_timezone(&Utc);
            if slot >= t && cal.is_allowed(slot) {
                return Ok(Some(slot));
            }
        }
        Err(format!(
            "the schedule \"{line}\" has no slot outside quiet hours, weekend and holidays"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn cal() -> Calendar {
        Calendar {
            tz: chrono_tz::Europe::Amsterdam,
            quiet: Some((
                NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            )),
            weekend: Some(("fri 18:00".parse().unwrap(), "mon 07:00".parse().unwrap())),
            holidays: vec![],
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn crontab_weekday_numbers_mean_what_crontab_means() {
        let s = Schedule::parse("0 17 * * 1-5").unwrap();
        // Saturday → next Monday 17:00, not Sunday.
        let slot = s
            .next_slot(at("2026-11-21T12:00:00+01:00"), &cal())
            .unwrap()
            .unwrap();
        assert_eq!(slot, at("2026-11-23T17:00:00+01:00"));
        let names = Schedule::parse("0 17 * * mon-fri").unwrap();
        assert_eq!(
            names
                .next_slot(at("2026-11-21T12:00:00+01:00"), &cal())
                .unwrap(),
            Some(slot)
        );
        let sunday = Schedule::parse("0 12 * * 0").unwrap();
        let mut c = cal();
        c.weekend = None;
        assert_eq!(
            sunday
                .next_slot(at("2026-11-21T12:00:00+01:00"), &c)
                .unwrap(),
            Some(at("2026-11-22T12:00:00+01:00"))
        );
    }

    #[test]
    fn a_slot_at_t_counts_and_blacked_out_slots_are_skipped() {
        let s = Schedule::parse("0 17 * * *").unwrap();
        assert_eq!(
            s.next_slot(at("2026-11-24T17:00:00+01:00"), &cal())
                .unwrap(),
            Some(at("2026-11-24T17:00:00+01:00"))
        );
        // Saturday and Sunday 17:00 are weekend: Monday 17:00.
        assert_eq!(
            s.next_slot(at("2026-11-20T17:30:00+01:00"), &cal())
                .unwrap(),
            Some(at("2026-11-23T17:00:00+01:00"))
        );
        // 22:00 is always quiet: never fires.
        assert!(Schedule::parse("0 22 * * *")
            .unwrap()
            .next_slot(at("2026-11-24T17:00:00+01:00"), &cal())
            .is_err());
    }

    #[test]
    fn dst_weeks_keep_local_slots() {
        let s = Schedule::parse("0 17 * * mon-fri").unwrap();
        assert_eq!(
            s.next_slot(at("2026-03-27T18:00:00+01:00"), &cal())
                .unwrap(),
            Some(at("2026-03-30T17:00:00+02:00"))
        );
        assert_eq!(
            s.next_slot(at("2026-10-23T18:00:00+02:00"), &cal())
                .unwrap(),
            Some(at("2026-10-26T17:00:00+01:00"))
        );
    }

    #[test]
    fn bad_lines_are_explained() {
        assert!(Schedule::parse("0 17 * *").unwrap_err().contains("5-field"));
        assert!(Schedule::parse("0 25 * * *").is_err());
        assert!(Schedule::parse("0 17 * * 9")
            .unwrap_err()
            .contains("weekday"));
        assert!(Schedule::parse("weekly").is_ok());
        assert!(Schedule::parse("immediate").unwrap().is_immediate());
    }
}
