//! What a family may choose on its preference page, and what it never can. Pure: `today`
//! (the school's local date) is an argument, ages are computed on it as the planner computes
//! them on an event's day.
//!
//! The floors (the law and the school): report grades of a student under 18 always reach
//! the guardians; quiet hours, weekend and holidays hold for everyone; a guardian's schedule
//! only ever makes messages later (the planner applies it after the school's own); at least
//! one channel stays on; a student's sharing choice counts only from the age
//! `consent.student_controls` allows (and always from 18).

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Timelike, Weekday};

use crate::model::preference::{Choice, Frequency, OwnMessages};
use crate::model::{ChannelKind, Role};
use crate::policy::calendar::resolve_local;
use crate::policy::{Calendar, ConsentPolicy, Policy, Schedule, StudentControls};

/// The school's daily moment when its guardian digest is `immediate`.
pub const DEFAULT_DAILY: &str = "0 17 * * mon-fri";
/// Friday 17:00, the end of the school week.
pub const WEEKLY: &str = "0 17 * * fri";

/// May a student of `age` steer what their guardians see?
pub fn student_may_share(age: u32, consent: &ConsentPolicy) -> bool {
    if age >= 18 {
        return true;
    }
    match consent.student_controls {
        StudentControls::Never => false,
        StudentControls::From16 => age >= 16,
        StudentControls::Always => true,
    }
}

/// Report grades reach the guardians of a minor whatever anyone chose.
pub fn report_grades_always_shared(age: u32) -> bool {
    age < 18
}

/// The crontab line a guardian's frequency stands for; `None` for "as soon as allowed".
pub fn frequency_line(f: Frequency, policy: &Policy) -> Option<String> {
    match f {
        Frequency::Asap => None,
        Frequency::Daily => Some(match &policy.digest.guardians {
            Schedule::Cron { line, .. } => line.clone(),
            Schedule::Immediate => DEFAULT_DAILY.to_string(),
        }),
        Frequency::Weekly => Some(WEEKLY.to_string()),
        Frequency::Custom { day, time } => Some(format!(
            "{} {} * * {}",
            time.minute(),
            time.hour(),
            match day {
                None => "mon-fri".to_string(),
                Some(d) => crate::model::time::weekday_short(d).to_string(),
            }
        )),
    }
}

/// The schedule of a frequency (the planner adds it after the school's).
pub fn frequency_schedule(f: Frequency, policy: &Policy) -> Option<Schedule> {
    Schedule::parse(&frequency_line(f, policy)?).ok()
}

/// A student's own daily digest: the school's daily moment.
pub fn own_schedule(own: OwnMessages, policy: &Policy) -> Option<Schedule> {
    match own {
        OwnMessages::Immediate => None,
        OwnMessages::Daily => frequency_schedule(Frequency::Daily, policy),
    }
}

/// Is `day` at `time` (every school day when `day` is `None`) a moment the school allows, in
/// the first week after `today` without holidays?
pub fn slot_allowed(
    cal: &Calendar,
    day: Option<Weekday>,
    time: NaiveTime,
    today: NaiveDate,
) -> bool {
    let days: Vec<Weekday> = match day {
        Some(d) => vec![d],
        None => vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
    };
    days.iter().all(|d| {
        // The next date on that weekday that is not a holiday (within a year).
        (1..=370)
            .map(|n| today + Duration::days(n))
            .filter(|date| date.weekday() == *d && !cal.is_holiday(*date))
            .take(1)
            .all(|date| cal.is_allowed(resolve_local(cal.tz, date.and_time(time))))
    })
}

/// The times offered for a custom moment: every half hour from 06:00 to 22:00 that the
/// school allows on every school day.
pub fn offered_times(cal: &Calendar, today: NaiveDate) -> Vec<NaiveTime> {
    (12..=44)
        .filter_map(|half| NaiveTime::from_hms_opt(half / 2, (half % 2) * 30, 0))
        .filter(|t| slot_allowed(cal, None, *t, today))
        .collect()
}

/// Why a submitted choice is refused; the page shows it (`text(nl)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Every channel would be off.
    NoChannelLeft,
    /// A channel the person does not have.
    UnknownChannel(ChannelKind),
    /// A custom moment inside quiet hours, the weekend or a holiday.
    SlotNotAllowed,
    /// A guardian-only field on a student's page or the other way round.
    NotForRole(&'static str),
    /// Sharing controls before the age the school allows.
    SharingNotAllowed,
}

impl Refusal {
    pub fn text(&self, nl: bool) -> String {
        match (self, nl) {
            (Refusal::NoChannelLeft, true) => "Er moet minstens één kanaal aan blijven.".into(),
            (Refusal::NoChannelLeft, false) => "At least one channel has to stay on.".into(),
            (Refusal::UnknownChannel(c), true) => {
                format!("Kanaal {} is niet bekend bij de school.", c.as_str())
            }
            (Refusal::UnknownChannel(c), false) => {
                format!("The school has no {} channel for you.", c.as_str())
            }
            (Refusal::SlotNotAllowed, true) => {
                "Dat moment valt in de stille uren, het weekend of een vakantie van de school."
                    .into()
            }
            (Refusal::SlotNotAllowed, false) => {
                "That moment falls in the school's quiet hours, weekend or a holiday.".into()
            }
            (Refusal::NotForRole(f), true) => format!("{f} kan hier niet gekozen worden."),
            (Refusal::NotForRole(f), false) => format!("{f} cannot be chosen here."),
            (Refusal::SharingNotAllowed, true) => {
                "De school laat je dit op jouw leeftijd nog niet zelf kiezen.".into()
            }
            (Refusal::SharingNotAllowed, false) => {
                "The school does not let you choose this yet at your age.".into()
            }
        }
    }
}

/// Whom a choice is for, as far as the rules need to know.
#[derive(Debug, Clone)]
pub struct Chooser<'a> {
    pub role: Role,
    /// For a student their age on `today`; for a guardian unused.
    pub age: u32,
    /// The channels the school has for the person.
    pub channels: &'a [ChannelKind],
}

/// Checks a submitted choice against the rules; returns every refusal.
pub fn validate(
    who: &Chooser,
    c: &Choice,
    policy: &Policy,
    today: NaiveDate,
) -> Result<(), Vec<Refusal>> {
    let mut out = Vec::new();
    for ch in &c.channels_off {
        if !who.channels.contains(ch) {
            out.push(Refusal::UnknownChannel(*ch));
        }
    }
    if !who.channels.is_empty() && who.channels.iter().all(|ch| c.channels_off.contains(ch)) {
        out.push(Refusal::NoChannelLeft);
    }
    match who.role {
        Role::Guardian => {
            if c.share_grades.is_some() || c.share_absences.is_some() {
                out.push(Refusal::NotForRole("share"));
            }
            if c.own.is_some() {
                out.push(Refusal::NotForRole("own"));
            }
            if let Some(Frequency::Custom { day, time }) = c.frequency {
                let weekend = matches!(day, Some(Weekday::Sat | Weekday::Sun));
                if weekend || !slot_allowed(&policy.calendar, day, time, today) {
                    out.push(Refusal::SlotNotAllowed);
                }
            }
        }
        Role::Student => {
            if c.frequency.is_some() {
                out.push(Refusal::NotForRole("frequency"));
            }
            let sharing = c.share_grades.is_some() || c.share_absences.is_some();
            if sharing && !student_may_share(who.age, &policy.consent) {
                out.push(Refusal::SharingNotAllowed);
            }
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

/// One-click unsubscribe (RFC 8058): the calmest setting the rules allow, never silence.
/// A guardian gets the weekly digest, a student their daily one; channels and sharing stay.
pub fn one_click(role: Role, mut c: Choice) -> Choice {
    match role {
        Role::Guardian => c.frequency = Some(Frequency::Weekly),
        Role::Student => c.own = Some(OwnMessages::Daily),
    }
    c
}

/// What a student's guardians see, as the guardian's page explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharing {
    /// Test grades and other non-report grades.
    pub grades: bool,
    pub absences: bool,
    /// Report grades (always while the student is a minor).
    pub report_grades: bool,
    /// The student made the choice themselves (and it counts at their age).
    pub chosen_by_student: bool,
}

/// What guardians of a student of `age` see given the directory's `guardian_access` and the
/// student's stored choice (which wins where it counts).
pub fn sharing(
    age: u32,
    directory: crate::model::directory::GuardianAccess,
    choice: Option<&Choice>,
    consent: &ConsentPolicy,
) -> Sharing {
    let counts = student_may_share(age, consent);
    let grades_choice = choice.and_then(|c| c.share_grades).or(directory.grades);
    let absences_choice = choice.and_then(|c| c.share_absences).or(directory.absences);
    let allowed = |v: Option<bool>| {
        if age >= 18 && consent.adult_needs_consent {
            v == Some(true)
        } else if counts {
            v != Some(false)
        } else {
            true
        }
    };
    Sharing {
        grades: allowed(grades_choice),
        absences: allowed(absences_choice),
        report_grades: report_grades_always_shared(age) || allowed(grades_choice),
        chosen_by_student: counts
            && choice.is_some_and(|c| c.share_grades.is_some() || c.share_absences.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use proptest::prelude::*;

    fn policy(controls: &str) -> Policy {
        let text = format!(
            "[quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n[weekend]\nfrom = \"fri 18:00\"\nuntil = \"mon 07:00\"\n[consent]\nstudent_controls = \"{controls}\"\n"
        );
        Config::parse(std::path::Path::new("t.toml"), &text)
            .unwrap()
            .default_policy
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn who_may_share_by_age_and_school_setting() {
        let table = [
            ("never", 15, false),
            ("never", 16, false),
            ("never", 17, false),
            ("never", 18, true),
            ("from_16", 15, false),
            ("from_16", 16, true),
            ("from_16", 17, true),
            ("always", 12, true),
        ];
        for (controls, age, may) in table {
            assert_eq!(
                student_may_share(age, &policy(controls).consent),
                may,
                "{controls} at {age}"
            );
        }
    }

    #[test]
    fn frequencies_map_to_schedules() {
        let p = policy("from_16");
        let line = |f| frequency_line(f, &p);
        assert_eq!(line(Frequency::Asap), None);
        // The school's guardian digest (default 17:00 on school days).
        assert_eq!(line(Frequency::Daily).as_deref(), Some("0 17 * * mon-fri"));
        assert_eq!(line(Frequency::Weekly).as_deref(), Some("0 17 * * fri"));
        assert_eq!(
            line(Frequency::Custom {
                day: Some(Weekday::Wed),
                time: t("12:30")
            })
            .as_deref(),
            Some("30 12 * * wed")
        );
        assert_eq!(
            line(Frequency::Custom {
                day: None,
                time: t("07:30")
            })
            .as_deref(),
            Some("30 7 * * mon-fri")
        );
    }

    #[test]
    fn validation_table() {
        let p = policy("from_16");
        let today = d("2026-11-23");
        let both = [ChannelKind::Email, ChannelKind::Ntfy];
        let guardian = Chooser {
            role: Role::Guardian,
            age: 0,
            channels: &both,
        };
        let student = |age| Chooser {
            role: Role::Student,
            age,
            channels: &both[..1],
        };
        let custom = |day, time: &str| Choice {
            frequency: Some(Frequency::Custom { day, time: t(time) }),
            ..Choice::default()
        };
        let off = |chs: &[ChannelKind]| Choice {
            channels_off: chs.to_vec(),
            ..Choice::default()
        };
        let share = Choice {
            share_grades: Some(false),
            ..Choice::default()
        };
        type Case<'a> = (&'a str, Chooser<'a>, Choice, Result<(), Vec<Refusal>>);
        let cases: Vec<Case> = vec![
            (
                "weekly",
                guardian.clone(),
                Choice {
                    frequency: Some(Frequency::Weekly),
                    ..Choice::default()
                },
                Ok(()),
            ),
            (
                "one channel off",
                guardian.clone(),
                off(&[ChannelKind::Ntfy]),
                Ok(()),
            ),
            (
                "all channels off",
                guardian.clone(),
                off(&both),
                Err(vec![Refusal::NoChannelLeft]),
            ),
            (
                "unknown channel",
                guardian.clone(),
                off(&[ChannelKind::Fcm]),
                Err(vec![Refusal::UnknownChannel(ChannelKind::Fcm)]),
            ),
            (
                "custom wed 12:30",
                guardian.clone(),
                custom(Some(Weekday::Wed), "12:30"),
                Ok(()),
            ),
            (
                "custom in quiet hours",
                guardian.clone(),
                custom(Some(Weekday::Wed), "21:00"),
                Err(vec![Refusal::SlotNotAllowed]),
            ),
            (
                "custom early",
                guardian.clone(),
                custom(None, "06:30"),
                Err(vec![Refusal::SlotNotAllowed]),
            ),
            (
                "custom in weekend",
                guardian.clone(),
                custom(Some(Weekday::Sat), "12:00"),
                Err(vec![Refusal::SlotNotAllowed]),
            ),
            (
                "custom friday evening",
                guardian.clone(),
                custom(Some(Weekday::Fri), "19:00"),
                Err(vec![Refusal::SlotNotAllowed]),
            ),
            (
                "guardian cannot share",
                guardian.clone(),
                share.clone(),
                Err(vec![Refusal::NotForRole("share")]),
            ),
            (
                "15 cannot share",
                student(15),
                share.clone(),
                Err(vec![Refusal::SharingNotAllowed]),
            ),
            ("16 can share", student(16), share.clone(), Ok(())),
            (
                "student frequency",
                student(16),
                Choice {
                    frequency: Some(Frequency::Weekly),
                    ..Choice::default()
                },
                Err(vec![Refusal::NotForRole("frequency")]),
            ),
            (
                "student daily",
                student(14),
                Choice {
                    own: Some(OwnMessages::Daily),
                    ..Choice::default()
                },
                Ok(()),
            ),
        ];
        for (name, who, choice, want) in cases {
            assert_eq!(validate(&who, &choice, &p, today), want, "{name}");
        }
    }

    #[test]
    fn offered_times_lie_outside_quiet_hours() {
        let p = policy("from_16");
        let times = offered_times(&p.calendar, d("2026-11-23"));
        assert_eq!(times.first(), Some(&t("07:00")));
        // Friday evening is weekend from 18:00: every school day ends at 17:30.
        assert_eq!(times.last(), Some(&t("17:30")));
    }

    #[test]
    fn one_click_is_the_calmest_never_silence() {
        let c = one_click(
            Role::Guardian,
            Choice {
                channels_off: vec![ChannelKind::Ntfy],
                ..Choice::default()
            },
        );
        assert_eq!(c.frequency, Some(Frequency::Weekly));
        assert_eq!(c.channels_off, vec![ChannelKind::Ntfy]);
        assert_eq!(
            one_click(Role::Student, Choice::default()).own,
            Some(OwnMessages::Daily)
        );
    }

    #[test]
    fn sharing_as_the_guardian_sees_it() {
        let p = policy("from_16");
        let hide_grades = Choice {
            share_grades: Some(false),
            share_absences: Some(true),
            ..Choice::default()
        };
        let dir = crate::model::directory::GuardianAccess::default();
        // 16: the choice counts, report grades still shared.
        let s = sharing(16, dir, Some(&hide_grades), &p.consent);
        assert_eq!(
            (s.grades, s.absences, s.report_grades, s.chosen_by_student),
            (false, true, true, true)
        );
        // 15: the stored choice does not count yet.
        let s = sharing(15, dir, Some(&hide_grades), &p.consent);
        assert_eq!(
            (s.grades, s.absences, s.report_grades, s.chosen_by_student),
            (true, true, true, false)
        );
        // 18 with adult_needs_consent: nothing without a grant, report grades included.
        let s = sharing(18, dir, None, &p.consent);
        assert_eq!(
            (s.grades, s.absences, s.report_grades),
            (false, false, false)
        );
    }

    fn any_choice() -> impl Strategy<Value = Choice> {
        let freq = prop_oneof![
            Just(None),
            Just(Some(Frequency::Asap)),
            Just(Some(Frequency::Daily)),
            Just(Some(Frequency::Weekly)),
            (
                proptest::option::of(0u8..7),
                0u32..24,
                prop_oneof![Just(0u32), Just(30)]
            )
                .prop_map(|(d, h, m)| Some(Frequency::Custom {
                    day: d.map(|d| Weekday::try_from(d).unwrap()),
                    time: NaiveTime::from_hms_opt(h, m, 0).unwrap(),
                })),
        ];
        let chans = proptest::sample::subsequence(
            vec![ChannelKind::Email, ChannelKind::Ntfy, ChannelKind::Fcm],
            0..=3,
        );
        (
            freq,
            chans,
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(prop_oneof![
                Just(OwnMessages::Immediate),
                Just(OwnMessages::Daily)
            ]),
        )
            .prop_map(
                |(frequency, channels_off, share_grades, share_absences, own)| Choice {
                    frequency,
                    channels_off,
                    locale: None,
                    share_grades,
                    share_absences,
                    own,
                },
            )
    }

    proptest! {
        /// Whatever passes validation leaves a channel on, keeps a custom moment outside the
        /// blackouts, and gives a 15-year-old (from_16) no say over sharing; report grades of
        /// a minor are shared whatever the choice.
        #[test]
        fn accepted_choices_keep_the_floors(c in any_choice(), age in 10u32..20, role in prop_oneof![Just(Role::Guardian), Just(Role::Student)]) {
            let p = policy("from_16");
            let today = d("2026-11-23");
            let chans = [ChannelKind::Email, ChannelKind::Ntfy];
            let who = Chooser { role, age, channels: &chans };
            if validate(&who, &c, &p, today).is_ok() {
                prop_assert!(chans.iter().any(|ch| !c.channels_off.contains(ch)));
                if let Some(Frequency::Custom { day, time }) = c.frequency {
                    prop_assert!(slot_allowed(&p.calendar, day, time, today));
                }
                if role == Role::Student && age < 16 {
                    prop_assert!(c.share_grades.is_none() && c.share_absences.is_none());
                }
            }
            let s = sharing(age, Default::default(), Some(&c), &p.consent);
            if age < 18 {
                prop_assert!(s.report_grades);
            }
            if age < 16 {
                prop_assert!(s.grades && s.absences);
            }
        }
    }
}
