//! `plan(event, facts, directory, policy, now) -> Plan`: who hears about an event, on which
//! channel, and when. Pure: the store gathers the facts, the planner decides.
//!
//! Every notice starts at the event's `occurred_at` and each rule may only move it later,
//! leaving a [`Reason`]. The student's timeline comes first; guardians start from the
//! student's due time plus `grades.guardian_delay`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::directory::{channels, Guardian, Person};
use crate::model::event::{Absence, Grade};
use crate::model::time::{human, DayWindow};
use crate::model::{ChannelKind, Directory, Event, EventBody, GradeKind, Role, Student};
use crate::policy::calendar::{resolve_local, Calendar};
use crate::policy::reason::{Reason, Rule};
use crate::policy::{
    AbsenceMode, ClassroomFirst, GuardianGrades, Policy, Schedule, StudentControls,
};

/// What the store knows about the event's record and assessment.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// When the grade's assessment was discussed in class (`assessment.released`), if it was.
    pub released_at: Option<DateTime<Utc>>,
    /// Messages already delivered for this record, any version.
    pub delivered: &'a [Delivered],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub recipient: String,
    pub channel: ChannelKind,
    pub event_id: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Grade,
    Absence,
    /// The recipient saw an earlier version of the record; this is the new one.
    Correction,
    /// The recipient saw the record; it has been withdrawn.
    Withdrawal,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Grade => "grade",
            NoticeKind::Absence => "absence",
            NoticeKind::Correction => "correction",
            NoticeKind::Withdrawal => "withdrawal",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        Some(match s {
            "grade" => NoticeKind::Grade,
            "absence" => NoticeKind::Absence,
            "correction" => NoticeKind::Correction,
            "withdrawal" => NoticeKind::Withdrawal,
            _ => return None,
        })
    }
}

/// One planned message part for one recipient on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Idempotency key: the same event, recipient and channel always give the same key.
    pub key: String,
    pub school: String,
    pub record: String,
    pub event_id: String,
    pub student: String,
    pub recipient: String,
    pub role: Role,
    pub channel: ChannelKind,
    pub kind: NoticeKind,
    pub due_at: DateTime<Utc>,
    pub reasons: Vec<Reason>,
    /// Set while the notice waits for an `assessment.released` (re-planned when it comes).
    pub release_key: Option<String>,
}

/// A recipient who gets nothing for this event, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    pub school: String,
    pub record: String,
    pub event_id: String,
    pub student: String,
    pub recipient: Option<String>,
    pub role: Option<Role>,
    pub rule: &'static str,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub notices: Vec<Notice>,
    pub suppressed: Vec<Suppressed>,
}

/// Plans the notices for `event`. Deterministic; reads no clock.
pub fn plan(
    event: &Event,
    facts: &Facts,
    dir: &Directory,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Plan {
    let mut p = Planner {
        event,
        dir,
        facts,
        policy,
        now,
        out: Plan::default(),
    };
    let Some(student_id) = event.student() else {
        return p.out; // assessment.released only changes facts; the store re-plans.
    };
    let Some(student) = dir.student(&event.school, student_id) else {
        p.suppress(
            None,
            None,
            "unknown_student",
            format!("student {student_id} is not in the directory"),
        );
        return p.out;
    };
    match &event.body {
        EventBody::GradeEntered { grade, .. } => p.grade(dir, student, grade),
        EventBody::AbsenceRegistered { absence, .. } => p.absence(student, absence),
        EventBody::GradeWithdrawn { .. } | EventBody::AbsenceWithdrawn { .. } => {
            p.withdrawal(dir, student)
        }
        EventBody::AssessmentReleased { .. } => {}
    }
    p.out
}

/// A notice's due time as rules move it.
#[derive(Debug, Clone)]
struct Timeline {
    t: DateTime<Utc>,
    reasons: Vec<Reason>,
    failed: Option<String>,
}

impl Timeline {
    fn start(at: DateTime<Utc>, detail: impl Into<String>) -> Timeline {
        Timeline {
            t: at,
            reasons: vec![Reason::moved(Rule::Entered, at, at, detail)],
            failed: None,
        }
    }

    /// Moves later (never earlier) and records why.
    fn move_to(&mut self, rule: Rule, to: DateTime<Utc>, detail: impl Into<String>) {
        if to > self.t {
            self.reasons.push(Reason::moved(rule, self.t, to, detail));
            self.t = to;
        }
    }

    fn allowed(&mut self, cal: &Calendar) {
        match cal.next_allowed(self.t, &mut self.reasons) {
            Ok(t) => self.t = t,
            Err(e) => self.failed = Some(e.to_string()),
        }
    }

    fn slot(&mut self, schedule: &Schedule, cal: &Calendar, rule: Rule) {
        match schedule.next_slot(self.t, cal) {
            Ok(Some(slot)) => self.move_to(rule, slot, schedule.describe()),
            Ok(None) => {}
            Err(e) => self.failed = Some(e),
        }
    }
}

struct Planner<'a> {
    event: &'a Event,
    dir: &'a Directory,
    facts: &'a Facts<'a>,
    policy: &'a Policy,
    now: DateTime<Utc>,
    out: Plan,
}

impl Planner<'_> {
    fn cal(&self) -> &Calendar {
        &self.policy.calendar
    }

    fn student_id(&self) -> &str {
        self.event.student().unwrap_or_default()
    }

    fn suppress(
        &mut self,
        recipient: Option<&str>,
        role: Option<Role>,
        rule: &'static str,
        why: String,
    ) {
        self.out.suppressed.push(Suppressed {
            school: self.event.school.clone(),
            record: self.event.record.clone(),
            event_id: self.event.id.clone(),
            student: self.student_id().to_string(),
            recipient: recipient.map(str::to_string),
            role,
            rule,
            why,
        });
    }

    fn delivered_to<'s>(&'s self, recipient: &'s str) -> impl Iterator<Item = &'s Delivered> + 's {
        self.facts
            .delivered
            .iter()
            .filter(move |d| d.recipient == recipient)
    }

    /// Clamps to `now`, then to an allowed instant (inside `window` for report grades to
    /// students), then to the role's digest slot.
    ///
    /// The clamp to `now` is only applied when the rules alone would put the notice in the
    /// past. Clamping unconditionally recorded a "planned late" step whenever an event was
    /// planned a moment after it occurred (even when it was due hours later anyway), so two
    /// plans of the same event made before its due time differed, and the operator's
    /// explanation called an on-time notice late. The due time is the same either way: every
    /// instant between the clamped-from time and the result is blacked out or before the
    /// next slot.
    fn finish(
        &self,
        tl: Timeline,
        schedules: &[(&Schedule, Rule)],
        window: Option<DayWindow>,
    ) -> Timeline {
        let on_time = self.run_rules(tl.clone(), schedules, window);
        if on_time.t >= self.now || on_time.failed.is_some() {
            return on_time;
        }
        let mut tl = tl;
        tl.move_to(Rule::Late, self.now, "");
        self.run_rules(tl, schedules, window)
    }

    /// Blackouts (and the report window), then digest slots; no `now`.
    ///
    /// The report window and the blackouts are applied until they agree: applying the window
    /// only once, before the blackouts, let quiet hours that end inside or before the window
    /// (or a late plan) push a report grade out of it, e.g. to 08:00 on the way to school.
    fn run_rules(
        &self,
        mut tl: Timeline,
        schedules: &[(&Schedule, Rule)],
        window: Option<DayWindow>,
    ) -> Timeline {
        let cal = self.cal();
        match window {
            None => tl.allowed(cal),
            Some(w) => {
                let mut done = false;
                for _ in 0..MAX_WINDOW_ROUNDS {
                    report_window(&mut tl, cal, w);
                    tl.allowed(cal);
                    if tl.failed.is_some() || in_report_window(tl.t, cal, w) {
                        done = true;
                        break;
                    }
                }
                if !done {
                    tl.failed = Some(format!(
                        "report hours {w} on school days never fall outside quiet hours, weekend and holidays"
                    ));
                }
            }
        }
        for (schedule, rule) in schedules {
            tl.slot(schedule, cal, *rule);
        }
        tl
    }

    /// The guardian's own calmer schedule: their choice on the preference page, else the
    /// directory's `digest`; ignored (the school's applies) when it is not valid or never has
    /// a slot outside the school's blackouts.
    fn guardian_schedule(&self, g: &Guardian) -> Option<(Schedule, Rule)> {
        let (s, rule) = match self
            .dir
            .choice(&self.event.school, &g.id)
            .and_then(|c| c.frequency)
        {
            Some(f) => (
                crate::policy::preference::frequency_schedule(f, self.policy)?,
                Rule::Preference,
            ),
            None => (
                Schedule::parse(g.digest.as_deref()?).ok()?,
                Rule::PersonalDigest,
            ),
        };
        s.next_slot(self.event.occurred_utc(), self.cal())
            .ok()
            .map(|_| (s, rule))
    }

    /// The student's own digest chosen on the preference page, if any.
    fn student_schedule(&self, s: &Student) -> Option<Schedule> {
        let own = self.dir.choice(&s.school, &s.id)?.own?;
        let sched = crate::policy::preference::own_schedule(own, self.policy)?;
        sched
            .next_slot(self.event.occurred_utc(), self.cal())
            .ok()
            .map(|_| sched)
    }

    /// The student's sharing choice for `what`: from the preference page when made there
    /// (`true` in the second place), else the directory's `guardian_access`.
    fn sharing_choice(&self, s: &Student, grades: bool) -> (Option<bool>, bool) {
        let chosen = self.dir.choice(&s.school, &s.id).and_then(|c| {
            if grades {
                c.share_grades
            } else {
                c.share_absences
            }
        });
        match chosen {
            Some(v) => (Some(v), true),
            None if grades => (s.guardian_access.grades, false),
            None => (s.guardian_access.absences, false),
        }
    }

    /// Emits one notice per channel of `person`, skipping channels that already carry this
    /// event; `kind` turns into a correction for people who saw an earlier version.
    fn emit(
        &mut self,
        person: Person,
        kind: NoticeKind,
        tl: &Timeline,
        release_key: Option<&String>,
    ) {
        if let Some(why) = &tl.failed {
            self.suppress(
                Some(person.id),
                Some(person.role),
                "undeliverable",
                why.clone(),
            );
            return;
        }
        let chans = channels(person.contacts);
        if chans.is_empty() {
            self.suppress(
                Some(person.id),
                Some(person.role),
                "no_contact",
                format!("{} has no contact", person.id),
            );
            return;
        }
        let saw_earlier = self
            .delivered_to(person.id)
            .any(|d| d.event_id != self.event.id);
        let kind = if saw_earlier && matches!(kind, NoticeKind::Grade | NoticeKind::Absence) {
            NoticeKind::Correction
        } else {
            kind
        };
        for channel in chans {
            let already = self
                .delivered_to(person.id)
                .any(|d| d.channel == channel && d.event_id == self.event.id);
            if already {
                continue;
            }
            self.out.notices.push(Notice {
                key: notice_key(&self.event.school, &self.event.id, person.id, channel),
                school: self.event.school.clone(),
                record: self.event.record.clone(),
                event_id: self.event.id.clone(),
                student: self.student_id().to_string(),
                recipient: person.id.to_string(),
                role: person.role,
                channel,
                kind,
                due_at: tl.t,
                reasons: tl.reasons.clone(),
                release_key: release_key.cloned(),
            });
        }
    }

    fn grade(&mut self, dir: &Directory, s: &Student, grade: &Grade) {
        let entered = self.event.occurred_utc();
        let g = &self.policy.grades;
        let mut tl = Timeline::start(entered, "");
        let hold_until = entered + g.max_hold;
        let what = if grade.description.is_empty() {
            format!("{} ({})", grade.assessment.0, grade.subject.0)
        } else {
            format!("\"{}\"", grade.description)
        };
        let mut waits_for_release = None;
        let embargo = |tl: &mut Timeline, cal: &Calendar, why: &str| {
            let local = entered.with_timezone(&cal.tz);
            let target = cal
                .add_school_days(local.date_naive(), g.embargo_school_days)
                .map(|d| resolve_local(cal.tz, d.and_time(local.time())));
            match target {
                Some(t) if t <= hold_until => tl.move_to(
                    Rule::Embargo,
                    t,
                    format!("{} school day(s){why}", g.embargo_school_days),
                ),
                _ => tl.move_to(
                    Rule::MaxHold,
                    hold_until,
                    format!("embargo capped at {}", human(g.max_hold)),
                ),
            }
        };
        match g.classroom_first {
            ClassroomFirst::Off => {}
            ClassroomFirst::Release => match self.facts.released_at {
                Some(r) if r <= hold_until => tl.move_to(
                    Rule::ClassroomRelease,
                    r,
                    format!(
                        "waits for release of {what} in {} (released)",
                        grade.class.0
                    ),
                ),
                Some(_) => tl.move_to(
                    Rule::MaxHold,
                    hold_until,
                    format!("release of {what} came after max hold"),
                ),
                None => {
                    waits_for_release = Some(crate::model::event::release_key(
                        &grade.assessment,
                        &grade.class,
                    ));
                    tl.move_to(
                        Rule::MaxHold,
                        hold_until,
                        format!(
                            "waits for release of {what} in {} (not yet released; at most {})",
                            grade.class.0,
                            human(g.max_hold)
                        ),
                    );
                }
            },
            ClassroomFirst::NextLesson => {
                match dir.lessons(&self.event.school, &grade.class, &grade.subject) {
                    Some(lessons) if !lessons.is_empty() => {
                        // A lesson that starts before max_hold but ends after it must not
                        // extend the hold: the gate never holds longer than max_hold.
                        match self.cal().next_lesson_end(lessons, entered, hold_until) {
                            Some(end) if end <= hold_until => tl.move_to(
                                Rule::NextLesson,
                                end,
                                format!(
                                    "end of the next {} lesson of {}",
                                    grade.subject.0, grade.class.0
                                ),
                            ),
                            _ => tl.move_to(Rule::MaxHold, hold_until, "no lesson within max hold"),
                        }
                    }
                    _ => embargo(
                        &mut tl,
                        self.cal(),
                        &format!(" (no timetable for {} {})", grade.class.0, grade.subject.0),
                    ),
                }
            }
            ClassroomFirst::Embargo => embargo(&mut tl, self.cal(), ""),
        }
        let is_report = grade.kind == GradeKind::Report;
        // Report grades reach students only inside `report_hours` on a school day; applied
        // with the blackouts (and after any clamp to `now`) in `finish`.
        let window = if is_report { g.report_hours } else { None };

        // The student's timeline. Their actual delivery, if any, is the guardians' anchor.
        // A report grade keeps to its window rather than the students' digest slot (a slot
        // outside the window would undo it): it is news to hear with a mentor around.
        let own = self.student_schedule(s);
        let mut students: Vec<(&Schedule, Rule)> = Vec::new();
        if window.is_none() {
            students.push((&self.policy.digest.students, Rule::DigestSlot));
            if let Some(own) = &own {
                students.push((own, Rule::Preference));
            }
        }
        let students = students.as_slice();
        let notional = self.finish(tl.clone(), students, window);
        let student_person = Person {
            id: &s.id,
            name: &s.name,
            locale: s.locale,
            contacts: &s.contacts,
            role: Role::Student,
        };
        let has_contact = !s.contacts.is_empty();
        // Without a contact the student's policy due time without the `now` clamp counts: a
        // notional anchor that does not drift when the record is re-planned later.
        let anchor = if has_contact {
            notional.clone()
        } else {
            self.run_rules(tl, students, window)
        };
        let sent_to_student = self
            .delivered_to(&s.id)
            .filter(|d| d.event_id == self.event.id)
            .map(|d| d.sent_at)
            .max();
        // The guardians' timeline continues the student's, so that each reason starts where
        // the previous one ended. When the student's notice already went out, the student's
        // reasons are kept up to that moment and the guardian delay counts from it (before,
        // the student's whole chain was kept while the delay counted from the delivery, and
        // the chain no longer added up).
        let (guardian_base, student_due) = match sent_to_student {
            None => {
                let due = anchor.t;
                (anchor, due)
            }
            Some(sent) => {
                let mut base = anchor;
                let keep = 1 + base
                    .reasons
                    .iter()
                    .skip(1)
                    .take_while(|r| r.to <= sent)
                    .count();
                base.reasons.truncate(keep);
                base.t = base.reasons[keep - 1].to;
                (base, sent)
            }
        };
        self.emit(
            student_person,
            NoticeKind::Grade,
            &notional,
            waits_for_release.as_ref(),
        );

        // Guardians, each on their own.
        let date = entered.with_timezone(&self.cal().tz).date_naive();
        let access = self.guardian_grade_access(s, is_report, date);
        for guardian in &s.guardians {
            let person = guardian_person(guardian);
            let saw_earlier = self
                .delivered_to(&guardian.id)
                .any(|d| d.event_id != self.event.id);
            if let Err(why) = &access {
                if !saw_earlier {
                    self.suppress(
                        Some(&guardian.id),
                        Some(Role::Guardian),
                        why.0,
                        why.1.clone(),
                    );
                    continue;
                }
            }
            let mut gt = guardian_base.clone();
            gt.move_to(
                Rule::GuardianDelay,
                student_due + g.guardian_delay,
                format!("{} after the student", human(g.guardian_delay)),
            );
            let personal = self.guardian_schedule(guardian);
            let mut schedules = vec![(&self.policy.digest.guardians, Rule::DigestSlot)];
            if let Some((p, rule)) = &personal {
                schedules.push((p, *rule));
            }
            let gt = self.finish(gt, &schedules, None);
            self.emit(person, NoticeKind::Grade, &gt, waits_for_release.as_ref());
        }
    }

    /// May guardians see this grade? `Err((rule, why))` when not.
    fn guardian_grade_access(
        &self,
        s: &Student,
        is_report: bool,
        date: chrono::NaiveDate,
    ) -> Result<(), (&'static str, String)> {
        match self.policy.grades.guardians {
            GuardianGrades::None => {
                return Err(("grades.guardians", "grades.guardians = \"none\"".into()))
            }
            GuardianGrades::ReportOnly if !is_report => {
                return Err((
                    "grades.guardians",
                    "grades.guardians = \"report_only\" and this is not a report grade".into(),
                ))
            }
            _ => {}
        }
        let age = s.age_on(date);
        if is_report && age < 18 {
            return Ok(()); // The law: report grades reach guardians of minors.
        }
        let (choice, by_preference) = self.sharing_choice(s, true);
        self.consent(age, choice, "grades", by_preference)
    }

    /// May guardians see `what`, given the student's choice? A refusal made on the
    /// preference page (`by_preference`) is reported as the `preference` rule.
    fn consent(
        &self,
        age: u32,
        choice: Option<bool>,
        what: &str,
        by_preference: bool,
    ) -> Result<(), (&'static str, String)> {
        self.consent_rule(age, choice, what).map_err(|(rule, why)| {
            if by_preference && choice == Some(false) {
                ("preference", format!("{why}, on the preference page"))
            } else {
                (rule, why)
            }
        })
    }

    fn consent_rule(
        &self,
        age: u32,
        choice: Option<bool>,
        what: &str,
    ) -> Result<(), (&'static str, String)> {
        let c = &self.policy.consent;
        if age >= 18 {
            if c.adult_needs_consent && choice != Some(true) {
                return Err((
                    "consent",
                    format!("the student is {age} and has not granted guardians access to {what}"),
                ));
            }
            if choice == Some(false) {
                return Err((
                    "consent",
                    format!("the student is {age} and chose not to share {what}"),
                ));
            }
            return Ok(());
        }
        let counts = match c.student_controls {
            StudentControls::Never => false,
            StudentControls::From16 => age >= 16,
            StudentControls::Always => true,
        };
        if counts && choice == Some(false) {
            return Err((
                "consent",
                format!(
                    "the student ({age}) chose not to share {what} (consent.student_controls = \"{}\")",
                    c.student_controls.as_str()
                ),
            ));
        }
        Ok(())
    }

    fn absence(&mut self, s: &Student, absence: &Absence) {
        let entered = self.event.occurred_utc();
        let mode = self.policy.absences.mode(absence.kind);
        let date = entered.with_timezone(&self.cal().tz).date_naive();
        let (choice, by_preference) = self.sharing_choice(s, false);
        let access = self.consent(s.age_on(date), choice, "absences", by_preference);
        let mut base = Timeline::start(entered, "");
        base.move_to(
            Rule::Settle,
            entered + self.policy.absences.settle,
            human(self.policy.absences.settle),
        );
        for guardian in &s.guardians {
            let saw_earlier = self
                .delivered_to(&guardian.id)
                .any(|d| d.event_id != self.event.id);
            let blocked = match (&access, mode) {
                (Err(e), _) => Some(e.clone()),
                (Ok(()), AbsenceMode::None) => Some((
                    "absences.guardians",
                    format!("absences.guardians.{} = \"none\"", absence.kind.as_str()),
                )),
                _ => None,
            };
            if let Some((rule, why)) = blocked {
                if !saw_earlier {
                    self.suppress(Some(&guardian.id), Some(Role::Guardian), rule, why);
                    continue;
                }
            }
            let personal = self.guardian_schedule(guardian);
            let mut schedules = vec![];
            // An absence the school sends at once (unauthorized: is the child safe?) keeps
            // coming at once; a guardian's calmer schedule holds for the digest kinds.
            if mode == AbsenceMode::Digest {
                schedules.push((&self.policy.digest.guardians, Rule::DigestSlot));
                if let Some((p, rule)) = &personal {
                    schedules.push((p, *rule));
                }
            }
            let tl = self.finish(base.clone(), &schedules, None);
            self.emit(guardian_person(guardian), NoticeKind::Absence, &tl, None);
        }
    }

    /// A withdrawn record: only people who saw it hear that it is gone.
    fn withdrawal(&mut self, dir: &Directory, s: &Student) {
        let entered = self.event.occurred_utc();
        let mut seen: Vec<&str> = self
            .facts
            .delivered
            .iter()
            .map(|d| d.recipient.as_str())
            .collect();
        seen.dedup();
        seen.sort_unstable();
        seen.dedup();
        if seen.is_empty() {
            self.suppress(
                None,
                None,
                "not_delivered",
                "nothing of this record was delivered yet".into(),
            );
            return;
        }
        for id in seen {
            let Some(person) = dir.person(&self.event.school, &s.id, id) else {
                continue;
            };
            let mut schedules = vec![];
            let personal = s
                .guardians
                .iter()
                .find(|g| g.id == id)
                .and_then(|g| self.guardian_schedule(g));
            match person.role {
                Role::Student => schedules.push((&self.policy.digest.students, Rule::DigestSlot)),
                Role::Guardian => {
                    schedules.push((&self.policy.digest.guardians, Rule::DigestSlot));
                    if let Some((p, rule)) = &personal {
                        schedules.push((p, *rule));
                    }
                }
            }
            let tl = self.finish(Timeline::start(entered, ""), &schedules, None);
            // Only on the channels that carried the record.
            let chans: Vec<ChannelKind> = self.delivered_to(id).map(|d| d.channel).collect();
            let contacts: Vec<_> = person
                .contacts
                .iter()
                .filter(|c| chans.contains(&c.channel()))
                .cloned()
                .collect();
            let person = Person {
                contacts: &contacts,
                ..person
            };
            self.emit(person, NoticeKind::Withdrawal, &tl, None);
        }
    }
}

/// Rounds of "report window, then blackouts" before a report grade is declared undeliverable.
const MAX_WINDOW_ROUNDS: usize = 400;

/// Is `t` inside the report window on a school day?
fn in_report_window(t: DateTime<Utc>, cal: &Calendar, w: DayWindow) -> bool {
    let local = t.with_timezone(&cal.tz);
    cal.is_school_day(local.date_naive()) && w.start <= local.time() && local.time() < w.end
}

/// Moves `tl` to the first instant inside the report window on a school day (one reason).
fn report_window(tl: &mut Timeline, cal: &Calendar, w: DayWindow) {
    let local = tl.t.with_timezone(&cal.tz);
    let mut day = local.date_naive();
    if !(cal.is_school_day(day) && local.time() < w.end) {
        match cal.add_school_days(day, 1) {
            Some(next) => day = next,
            None => {
                tl.failed = Some(format!("no school day for report hours {w}"));
                return;
            }
        }
    }
    let opens = resolve_local(cal.tz, day.and_time(w.start));
    tl.move_to(Rule::ReportHours, opens, format!("{w} on a school day"));
}

fn guardian_person(g: &Guardian) -> Person<'_> {
    Person {
        id: &g.id,
        name: &g.name,
        locale: g.locale,
        contacts: &g.contacts,
        role: Role::Guardian,
    }
}

/// The idempotency key of a notice.
pub fn notice_key(school: &str, event_id: &str, recipient: &str, channel: ChannelKind) -> String {
    let mut h = Sha256::new();
    for part in [school, event_id, recipient, channel.as_str()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}
