//! Representative messages: every template is rendered against these when it is loaded, so a
//! broken operator template fails at start and not at 17:00 on a school day. The tests and
//! snapshots use them too.

use chrono::{DateTime, FixedOffset, Utc};

use super::{Item, MessageInput};
use crate::model::event::{Absence, Grade, LocalMoment, NonEmpty, Scalar};
use crate::model::{AbsenceKind, ChannelKind, Event, EventBody, GradeKind, Locale, Role};
use crate::policy::NoticeKind;

pub const SCHOOL: &str = "Coornhert Lyceum";
pub const GUARDIAN: &str = "Anna de Jong";
pub const MEREL: (&str, &str) = ("s-1001", "Merel de Jong");
pub const DAAN: (&str, &str) = ("s-1002", "Daan de Jong");

// Indexes into `Samples::events`.
pub const G_TEST: usize = 0;
pub const G_REPORT: usize = 1;
pub const G_CORRECTED: usize = 2;
pub const G_WITHDRAWN: usize = 3;
pub const A_UNAUTHORIZED: usize = 4;
pub const A_SICK_DAYS: usize = 5;
pub const A_CORRECTED: usize = 6;
pub const A_WITHDRAWN: usize = 7;
pub const A_LATE: usize = 8;
pub const G_DAAN: usize = 9;
/// The remaining absence kinds, one event each, from here on.
pub const A_OTHERS: usize = 10;

/// One sample message: (notice kind, event, earlier version) per item.
pub struct Case {
    pub name: &'static str,
    pub items: Vec<(NoticeKind, usize, Option<usize>)>,
}

pub struct Samples {
    pub events: Vec<Event>,
}

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|_| DateTime::<Utc>::UNIX_EPOCH.fixed_offset())
}

fn event(id: &str, record: &str, occurred: &str, body: EventBody) -> Event {
    Event {
        id: id.into(),
        school: "coornhert".into(),
        occurred_at: at(occurred),
        record: record.into(),
        body,
    }
}

#[allow(clippy::too_many_arguments)]
fn grade(
    student: &str,
    subject: &str,
    description: &str,
    value: &str,
    numeric: f64,
    weight: Option<f64>,
    kind: GradeKind,
) -> EventBody {
    EventBody::GradeEntered {
        student: student.into(),
        grade: Grade {
            assessment: NonEmpty(format!("a-{subject}")),
            subject: NonEmpty(subject.into()),
            class: NonEmpty("3c".into()),
            description: description.into(),
            value: Scalar(value.into()),
            numeric: Some(numeric),
            weight,
            kind,
        },
    }
}

fn absence(
    student: &str,
    kind: AbsenceKind,
    (start, end): (&str, Option<&str>),
    period: Option<&str>,
    subject: Option<&str>,
    note: Option<&str>,
) -> EventBody {
    EventBody::AbsenceRegistered {
        student: student.into(),
        absence: Absence {
            kind,
            start: LocalMoment(start.into()),
            end: end.map(|e| LocalMoment(e.into())),
            period: period.map(|p| Scalar(p.into())),
            subject: subject.map(str::to_string),
            note: note.map(str::to_string),
        },
    }
}

impl Samples {
    pub fn new() -> Samples {
        let (merel, daan) = (MEREL.0, DAAN.0);
        let lesson1 = (
            "2026-11-23T08:30:00+01:00",
            Some("2026-11-23T09:20:00+01:00"),
        );
        let mut events = vec![
            event(
                "evt-1",
                "r-1",
                "2026-11-20T21:14:00+01:00",
                grade(
                    merel,
                    "wiskunde",
                    "Toets H3",
                    "5.4",
                    5.4,
                    Some(2.0),
                    GradeKind::Test,
                ),
            ),
            event(
                "evt-2",
                "r-2",
                "2026-11-20T16:02:00+01:00",
                grade(merel, "engels", "", "6,8", 6.8, None, GradeKind::Report),
            ),
            event(
                "evt-3",
                "r-1",
                "2026-11-21T09:40:00+01:00",
                grade(
                    merel,
                    "wiskunde",
                    "Toets H3",
                    "6.1",
                    6.1,
                    Some(2.0),
                    GradeKind::Test,
                ),
            ),
            event(
                "evt-4",
                "r-1",
                "2026-11-21T10:05:00+01:00",
                EventBody::GradeWithdrawn {
                    student: merel.into(),
                },
            ),
            event(
                "evt-5",
                "abs-1",
                "2026-11-23T08:40:00+01:00",
                absence(
                    merel,
                    AbsenceKind::Unauthorized,
                    lesson1,
                    Some("1"),
                    Some("wiskunde"),
                    Some("Niet aanwezig bij de start van de les."),
                ),
            ),
            event(
                "evt-6",
                "abs-2",
                "2026-11-23T07:55:00+01:00",
                absence(
                    daan,
                    AbsenceKind::Sick,
                    ("2026-11-23", Some("2026-11-25")),
                    None,
                    None,
                    None,
                ),
            ),
            event(
                "evt-7",
                "abs-1",
                "2026-11-23T09:02:00+01:00",
                absence(
                    merel,
                    AbsenceKind::Sick,
                    lesson1,
                    Some("1"),
                    Some("wiskunde"),
                    Some("Ziekmelding door ouder ontvangen."),
                ),
            ),
            event(
                "evt-8",
                "abs-1",
                "2026-11-23T09:10:00+01:00",
                EventBody::AbsenceWithdrawn {
                    student: merel.into(),
                },
            ),
            event(
                "evt-9",
                "abs-3",
                "2026-11-24T10:25:00+01:00",
                absence(
                    daan,
                    AbsenceKind::Late,
                    ("2026-11-24T10:20:00+01:00", None),
                    Some("3"),
                    Some("geschiedenis"),
                    Some("Tien minuten te laat."),
                ),
            ),
            event(
                "evt-10",
                "r-3",
                "2026-11-24T15:30:00+01:00",
                grade(
                    daan,
                    "biologie",
                    "Practicum 2",
                    "7.8",
                    7.8,
                    Some(1.0),
                    GradeKind::Assignment,
                ),
            ),
        ];
        for (i, kind) in [
            AbsenceKind::Authorized,
            AbsenceKind::Removed,
            AbsenceKind::ForgotMaterials,
            AbsenceKind::HomeworkMissing,
        ]
        .into_iter()
        .enumerate()
        {
            events.push(event(
                &format!("evt-{}", 11 + i),
                &format!("abs-{}", 4 + i),
                "2026-11-25T11:00:00+01:00",
                absence(
                    merel,
                    kind,
                    ("2026-11-25T11:00:00+01:00", None),
                    Some("4"),
                    Some("frans"),
                    Some("Opmerking van de docent."),
                ),
            ));
        }
        Samples { events }
    }

    /// The messages every template is checked against.
    pub fn cases() -> Vec<Case> {
        use NoticeKind::*;
        let one = |name, kind, e, prev| Case {
            name,
            items: vec![(kind, e, prev)],
        };
        let mut cases = vec![
            one("grade", Grade, G_TEST, None),
            one("report grade", Grade, G_REPORT, None),
            one("absence", Absence, A_UNAUTHORIZED, None),
            one("absence over days", Absence, A_SICK_DAYS, None),
            one("late", Absence, A_LATE, None),
            one("corrected grade", Correction, G_CORRECTED, Some(G_TEST)),
            one(
                "corrected grade, earlier unknown",
                Correction,
                G_CORRECTED,
                None,
            ),
            one(
                "corrected absence",
                Correction,
                A_CORRECTED,
                Some(A_UNAUTHORIZED),
            ),
            one(
                "corrected absence, earlier unknown",
                Correction,
                A_CORRECTED,
                None,
            ),
            one("withdrawn grade", Withdrawal, G_WITHDRAWN, Some(G_TEST)),
            one("withdrawn grade, unknown", Withdrawal, G_WITHDRAWN, None),
            one(
                "withdrawn absence",
                Withdrawal,
                A_WITHDRAWN,
                Some(A_UNAUTHORIZED),
            ),
            one("withdrawn absence, unknown", Withdrawal, A_WITHDRAWN, None),
            Case {
                name: "digest",
                items: vec![
                    (Grade, G_TEST, None),
                    (Absence, A_LATE, None),
                    (Correction, A_CORRECTED, Some(A_UNAUTHORIZED)),
                ],
            },
            Case {
                name: "digest of everything",
                items: vec![
                    (Grade, G_TEST, None),
                    (Grade, G_REPORT, None),
                    (Absence, A_UNAUTHORIZED, None),
                    (Absence, A_SICK_DAYS, None),
                    (Correction, G_CORRECTED, Some(G_TEST)),
                    (Correction, A_CORRECTED, Some(A_UNAUTHORIZED)),
                    (Correction, G_CORRECTED, None),
                    (Correction, A_CORRECTED, None),
                    (Withdrawal, G_WITHDRAWN, Some(G_TEST)),
                    (Withdrawal, A_WITHDRAWN, Some(A_UNAUTHORIZED)),
                    (Withdrawal, G_WITHDRAWN, None),
                    (Withdrawal, A_WITHDRAWN, None),
                    (Grade, G_DAAN, None),
                ],
            },
        ];
        for i in 0..4 {
            cases.push(one("other absence kind", Absence, A_OTHERS + i, None));
        }
        cases
    }

    /// One case as a message for a recipient.
    pub fn input<'a>(
        &'a self,
        case: &Case,
        role: Role,
        locale: Locale,
        channel: ChannelKind,
        push_shows_value: bool,
    ) -> MessageInput<'a> {
        let items = case
            .items
            .iter()
            .map(|&(kind, e, prev)| {
                let event = &self.events[e];
                let student_name = if event.student() == Some(DAAN.0) {
                    DAAN.1
                } else {
                    MEREL.1
                };
                Item {
                    kind,
                    event,
                    student_name,
                    previous: prev.map(|p| &self.events[p]),
                }
            })
            .collect();
        MessageInput {
            school_name: SCHOOL,
            recipient_name: match role {
                Role::Student => MEREL.1,
                Role::Guardian => GUARDIAN,
            },
            role,
            locale,
            channel,
            push_shows_value,
            items,
        }
    }
}
