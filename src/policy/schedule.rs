//! Digest schedules: `immediate` or a 5-field crontab line evaluated in the school's zone.
//!
//! The `cron` crate wants a seconds field and numbers Sunday as 1; crontab numbers it 0 or 7.
//! We translate the day-of-week field to names so both readings agree.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::policy::calendar::Calendar;

#[derive(Debug, Clone)]
pub enum Schedule {
    Immediate,
    Cron {
        line: String,
        cron: Box<cron::Schedule>,
    },
}

/// Slots we look at before concluding that a schedule never fires at an allowed time.
const MAX_SLOTS: usize = 5_000;

impl Schedule {
    /// `weekly` is Friday 17:00, the end of the school week.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        match s {
            "immediate" => return Ok(Schedule::Immediate),
            "weekly" => return Schedule::parse("0 17 * * fri"),
            "daily" => return Schedule::parse("0 17 * * *"),
            _ => {}
        }
        let fields: Vec<&str> = s.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected \"immediate\" or a 5-field crontab line like \"0 17 * * mon-fri\" (minute hour day month weekday), got {} field(s)",
                fields.len()
            ));
        }
        let dow = translate_weekdays(fields[4])?;
        let line = format!(
            "0 {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], dow
        );
        let cron = cron::Schedule::from_str(&line)
            .map_err(|e| format!("not a valid crontab line: {e}"))?;
        Ok(Schedule::Cron {
            line: s.to_string(),
            cron: Box::new(cron),
        })
    }

    pub fn is_immediate(&self) -> bool {
        matches!(self, Schedule::Immediate)
    }

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

    pub fn describe(&self) -> String {
        match self {
            Schedule::Immediate => "immediate".into(),
            Schedule::Cron { line, .. } => format!("\"{line}\""),
        }
    }
}

fn weekday_name(n: &str) -> Result<&'static str, String> {
    Ok(match n {
        "0" | "7" => "Sun",
        "1" => "Mon",
        "2" => "Tue",
        "3" => "Wed",
        "4" => "Thu",
        "5" => "Fri",
        "6" => "Sat",
        other if other.chars().all(|c| c.is_ascii_alphabetic()) => return weekday_from_name(other),
        other => return Err(format!("weekday {other:?}: use 0-7 or mon..sun")),
    })
}

fn weekday_from_name(s: &str) -> Result<&'static str, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "sun" => "Sun",
        "mon" => "Mon",
        "tue" => "Tue",
        "wed" => "Wed",
        "thu" => "Thu",
        "fri" => "Fri",
        "sat" => "Sat",
        _ => return Err(format!("weekday {s:?}: use 0-7 or mon..sun")),
    })
}

/// Rewrites a crontab weekday field ("1-5", "mon,wed", "*/2") with names for the `cron` crate.
fn translate_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.into());
    }
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = if range == "*" {
            "*".to_string()
        } else if let Some((a, b)) = range.split_once('-') {
            // crontab allows "5-7" meaning fri-sun; split wrapping ranges at the week's end.
            let (a, b) = (weekday_name(a)?, weekday_name(b)?);
            format!("{a}-{b}")
        } else {
            weekday_name(range)?.to_string()
        };
        parts.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(parts.join(","))
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
