//! Checks that a configuration can deliver every notice, and the summary `rustig check`
//! prints.

use chrono::{DateTime, Duration, Utc};

use crate::model::AbsenceKind;
use crate::policy::{Calendar, ClassroomFirst, Policy};

/// Checks that every kind of notice can be delivered: from every hour of a sample of weeks
/// spanning the year, quiet hours, weekend and holidays must leave a free instant, and each
/// digest schedule must have a free slot. Returns `(key, why)`.
pub fn sanity(p: &Policy) -> Vec<(String, String)> {
    let mut out = vec![];
    let cal = &p.calendar;
    let start: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
    let mut probes = vec![];
    for week in 0..104 {
        for hour in (0..168).step_by(5) {
            probes.push(start + Duration::weeks(week) + Duration::hours(hour));
        }
    }
    for r in &cal.holidays {
        probes.push(crate::policy::calendar::resolve_local(
            cal.tz,
            r.first.and_time(chrono::NaiveTime::MIN),
        ));
    }
    for t in &probes {
        if let Err(e) = cal.next_allowed(*t, &mut vec![]) {
            out.push((
                "quiet_hours".to_string(),
                format!(
                    "{}; together quiet hours, weekend and holidays leave no time to deliver",
                    e.why
                ),
            ));
            return out;
        }
    }
    for (key, s) in [
        ("digest.students", &p.digest.students),
        ("digest.guardians", &p.digest.guardians),
    ] {
        for t in probes.iter().step_by(97) {
            if let Err(e) = s.next_slot(*t, cal) {
                out.push((
                    key.to_string(),
                    format!("{e}: notices on this schedule could never be delivered"),
                ));
                break;
            }
        }
    }
    if let Some(w) = p.grades.report_hours {
        // Report grades reach students only inside the window: some school-day minute of it
        // must be free of quiet hours (weekend and holidays only skip days).
        let quiet_only = Calendar {
            weekend: None,
            holidays: vec![],
            ..cal.clone()
        };
        let monday = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("valid date");
        let free = (0..5).any(|d| {
            let day = monday + Duration::days(d);
            let mut t = w.start;
            while t < w.end {
                let at = crate::policy::calendar::resolve_local(cal.tz, day.and_time(t));
                if quiet_only.is_allowed(at) {
                    return true;
                }
                t += Duration::minutes(15);
            }
            false
        });
        if !free {
            out.push((
                "grades.report_hours".into(),
                format!(
                    "{w} lies entirely inside quiet hours: report grades could never be delivered"
                ),
            ));
        }
    }
    if p.grades.max_hold < Duration::zero() {
        out.push(("grades.max_hold".into(), "must not be negative".into()));
    }
    out
}

pub(super) fn summarize(p: &Policy) -> String {
    let c = &p.calendar;
    let name = if p.school.is_empty() {
        "All schools".to_string()
    } else {
        format!("{} ({})", p.school_name, p.school)
    };
    let quiet = c
        .quiet
        .map(|(a, b)| format!("quiet hours {}–{}", a.format("%H:%M"), b.format("%H:%M")))
        .unwrap_or_else(|| "no quiet hours".into());
    let weekend = c
        .weekend
        .map(|(a, b)| format!("weekend {a} until {b}"))
        .unwrap_or_else(|| "no weekend blackout".into());
    let holidays = if c.holidays.is_empty() {
        "no holidays".to_string()
    } else {
        format!(
            "holidays {}",
            c.holidays
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let g = &p.grades;
    let gate = match g.classroom_first {
        ClassroomFirst::Off => "students see grades without a classroom gate".to_string(),
        ClassroomFirst::Release => format!(
            "students see a grade once its assessment is released in class (at most {})",
            crate::model::time::human(g.max_hold)
        ),
        ClassroomFirst::NextLesson => format!(
            "students see a grade after the next lesson of the subject ({} school day(s) without a timetable, at most {})",
            g.embargo_school_days,
            crate::model::time::human(g.max_hold)
        ),
        ClassroomFirst::Embargo => format!("students see a grade after {} school day(s)", g.embargo_school_days),
    };
    let kinds: Vec<String> = AbsenceKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.as_str(), p.absences.mode(*k).as_str()))
        .collect();
    format!(
        "{name}, zone {}: {quiet}, {weekend}, {holidays}. {gate}; guardians ({}) get them {} later{}. \
         Absences settle {} before guardians hear ({}). Digests: students {}, guardians {}{}. \
         Consent: student controls {}, adults {}.",
        c.tz.name(),
        g.guardians.as_str(),
        crate::model::time::human(g.guardian_delay),
        if g.push_shows_value { "; push shows values" } else { "; push never shows values" },
        crate::model::time::human(p.absences.settle),
        kinds.join(", "),
        p.digest.students.describe(),
        p.digest.guardians.describe(),
        p.digest.max_per_day.map(|n| format!(", at most {n} a day")).unwrap_or_default(),
        p.consent.student_controls.as_str(),
        if p.consent.adult_needs_consent {
            "must grant guardians access"
        } else {
            "decide themselves"
        },
    )
}
