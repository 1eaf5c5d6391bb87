//! Events from the student information system (schema v1 in DESIGN.md).
//!
//! A rejected event is parsed through `serde_json::Value` and `serde_path_to_error`, so that
//! its error names the field that is wrong; a valid one is read in one pass (`direct`).
//! Unknown fields are ignored as the contract says.

mod direct;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One validated event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub school: String,
    pub occurred_at: DateTime<FixedOffset>,
    pub record: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The type-specific part of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "grade.entered")]
    GradeEntered { student: String, grade: Grade },
    #[serde(rename = "grade.withdrawn")]
    GradeWithdrawn { student: String },
    #[serde(rename = "assessment.released")]
    AssessmentReleased { assessment: String, class: String },
    #[serde(rename = "absence.registered")]
    AbsenceRegistered { student: String, absence: Absence },
    #[serde(rename = "absence.withdrawn")]
    AbsenceWithdrawn { student: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub assessment: NonEmpty,
    pub subject: NonEmpty,
    pub class: NonEmpty,
    #[serde(default)]
    pub description: String,
    pub value: Scalar,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    pub kind: GradeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeKind {
    Test,
    Assignment,
    Report,
    Average,
    Exam,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Absence {
    pub kind: AbsenceKind,
    pub start: LocalMoment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<LocalMoment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceKind {
    Unauthorized,
    Authorized,
    Sick,
    Late,
    Removed,
    ForgotMaterials,
    HomeworkMissing,
}

impl AbsenceKind {
    pub const ALL: [AbsenceKind; 7] = [
        AbsenceKind::Unauthorized,
        AbsenceKind::Authorized,
        AbsenceKind::Sick,
        AbsenceKind::Late,
        AbsenceKind::Removed,
        AbsenceKind::ForgotMaterials,
        AbsenceKind::HomeworkMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AbsenceKind::Unauthorized => "unauthorized",
            AbsenceKind::Authorized => "authorized",
            AbsenceKind::Sick => "sick",
            AbsenceKind::Late => "late",
            AbsenceKind::Removed => "removed",
            AbsenceKind::ForgotMaterials => "forgot_materials",
            AbsenceKind::HomeworkMissing => "homework_missing",
        }
    }
}

/// Longest identifier (event, school, record, student, assessment, class, subject), in bytes.
/// Ids are stored, indexed and echoed in answers; SIS ids are far shorter.
pub const MAX_ID_BYTES: usize = 256;

/// Events that happened before this are not plausible (a default date, a wrong field).
pub const EARLIEST: &str = "2000-01-01T00:00:00Z";

/// How far an event's `occurred_at` may lie after the moment it is received: clocks drift,
/// but an event from the future is a wrong clock or a wrong field.
pub const MAX_AHEAD: chrono::Duration = chrono::Duration::days(1);

/// An identifier or name: not empty, at most [`MAX_ID_BYTES`], no control characters
/// (they would break log lines and the keys built from ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        // The message never quotes the value: it may be a megabyte long.
        if s.len() > MAX_ID_BYTES {
            return Err(serde::de::Error::custom(format!(
                "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
                s.len()
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(serde::de::Error::custom(
                "must not contain control characters (line breaks, tabs, …)",
            ));
        }
        Ok(NonEmpty(s))
    }
}

impl std::ops::Deref for NonEmpty {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A value the SIS may send as a string or a number ("7,5", 7.5, "V").
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Ok(Scalar(s)),
            serde_json::Value::Number(n) => Ok(Scalar(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a non-empty string or a number, got {}",
                match other {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::String(_) => "an empty string",
                    serde_json::Value::Array(_) => "an array",
                    _ => "an object",
                }
            ))),
        }
    }
}

/// A moment in the school day: an RFC 3339 timestamp or a plain date.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct LocalMoment(pub String);

impl<'de> Deserialize<'de> for LocalMoment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if DateTime::parse_from_rfc3339(&s).is_ok() || s.parse::<NaiveDate>().is_ok() {
            Ok(LocalMoment(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "{} is not an RFC 3339 time (2026-11-23T10:15:00+01:00) or a date (2026-11-23)",
                quote(&s)
            )))
        }
    }
}

/// Why an event was rejected; `field` is the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct EventError {
    pub field: String,
    pub message: String,
}

impl EventError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        EventError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
struct Common {
    id: NonEmpty,
    #[serde(rename = "type")]
    kind: String,
    school: NonEmpty,
    occurred_at: Rfc3339,
    record: NonEmpty,
}

/// `occurred_at` must carry an offset; chrono's RFC 3339 parser insists on one.
struct Rfc3339(DateTime<FixedOffset>);

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(Rfc3339).map_err(|_| {
            serde::de::Error::custom(format!(
                "{} is not an RFC 3339 time with offset, like 2026-11-23T10:15:00+01:00",
                quote(&s)
            ))
        })
    }
}

#[derive(Deserialize)]
struct StudentOnly {
    student: NonEmpty,
}
#[derive(Deserialize)]
struct GradePart {
    student: NonEmpty,
    grade: Grade,
}
#[derive(Deserialize)]
struct ReleasePart {
    assessment: NonEmpty,
    class: NonEmpty,
}
#[derive(Deserialize)]
struct AbsencePart {
    student: NonEmpty,
    absence: Absence,
}

/// A value quoted in an error: at most 40 characters of it, so an answer never echoes a
/// megabyte.
fn quote(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{:?}…", s.chars().take(40).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// Longest error message; serde quotes values it does not expect ("unknown variant `…`").
const MAX_MESSAGE: usize = 300;

fn part<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let mut message = e.into_inner().to_string();
        if message.len() > MAX_MESSAGE {
            let cut = (0..=MAX_MESSAGE)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        // serde reports a missing field at its parent: name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'));
        let field = match missing {
            Some(name) if path.is_empty() => name.to_string(),
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        EventError::new(field, message)
    })
}

pub const EVENT_TYPES: [&str; 5] = [
    "grade.entered",
    "grade.withdrawn",
    "assessment.released",
    "absence.registered",
    "absence.withdrawn",
];

impl Event {
    /// Parses and validates one event from raw JSON bytes.
    pub fn parse(raw: &[u8]) -> Result<Event, EventError> {
        match direct::parse(raw) {
            Some(event) => Ok(event),
            None => Event::parse_checked(raw),
        }
    }

    /// [`Event::parse`] through `serde_json::Value`, which names the field that is wrong.
    fn parse_checked(raw: &[u8]) -> Result<Event, EventError> {
        let value: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| EventError::new("", format!("not valid JSON: {e}")))?;
        Event::from_value(&value)
    }

    pub fn from_value(value: &serde_json::Value) -> Result<Event, EventError> {
        if !value.is_object() {
            return Err(EventError::new("", "an event must be a JSON object"));
        }
        let common: Common = part(value)?;
        let body = match common.kind.as_str() {
            "grade.entered" => {
                let p: GradePart = part(value)?;
                EventBody::GradeEntered {
                    student: p.student.0,
                    grade: p.grade,
                }
            }
            "grade.withdrawn" => EventBody::GradeWithdrawn {
                student: part::<StudentOnly>(value)?.student.0,
            },
            "assessment.released" => {
                let p: ReleasePart = part(value)?;
                EventBody::AssessmentReleased {
                    assessment: p.assessment.0,
                    class: p.class.0,
                }
            }
            "absence.registered" => {
                let p: AbsencePart = part(value)?;
                EventBody::AbsenceRegistered {
                    student: p.student.0,
                    absence: p.absence,
                }
            }
            "absence.withdrawn" => EventBody::AbsenceWithdrawn {
                student: part::<StudentOnly>(value)?.student.0,
            },
            other => {
                return Err(EventError::new(
                    "type",
                    format!(
                        "unknown event type {}; expected one of {}",
                        quote(other),
                        EVENT_TYPES.join(", ")
                    ),
                ))
            }
        };
        Ok(Event {
            id: common.id.0,
            school: common.school.0,
            occurred_at: common.occurred_at.0,
            record: common.record.0,
            body,
        })
    }

    /// Rejects an `occurred_at` before [`EARLIEST`] or more than [`MAX_AHEAD`] after `now`,
    /// the moment the event is received.
    pub fn check_received(self, now: DateTime<Utc>) -> Result<Event, EventError> {
        let at = self.occurred_utc();
        let earliest: DateTime<Utc> = EARLIEST.parse().expect("a valid instant");
        if at < earliest {
            return Err(EventError::new(
                "occurred_at",
                format!(
                    "{} is before {EARLIEST}: not a plausible time for an event",
                    self.occurred_at.to_rfc3339()
                ),
            ));
        }
        if at > now + MAX_AHEAD {
            return Err(EventError::new(
                "occurred_at",
                format!(
                    "{} is more than a day after it was received ({}): check the sender's clock",
                    self.occurred_at.to_rfc3339(),
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        Ok(self)
    }

    pub fn type_name(&self) -> &'static str {
        match self.body {
            EventBody::GradeEntered { .. } => "grade.entered",
            EventBody::GradeWithdrawn { .. } => "grade.withdrawn",
            EventBody::AssessmentReleased { .. } => "assessment.released",
            EventBody::AbsenceRegistered { .. } => "absence.registered",
            EventBody::AbsenceWithdrawn { .. } => "absence.withdrawn",
        }
    }

    pub fn occurred_utc(&self) -> DateTime<Utc> {
        self.occurred_at.with_timezone(&Utc)
    }

    /// The student the event is about (none for `assessment.released`).
    pub fn student(&self) -> Option<&str> {
        match &self.body {
            EventBody::GradeEntered { student, .. }
            | EventBody::GradeWithdrawn { student }
            | EventBody::AbsenceRegistered { student, .. }
            | EventBody::AbsenceWithdrawn { student } => Some(student),
            EventBody::AssessmentReleased { .. } => None,
        }
    }

    /// The classroom release this grade waits for, as `assessment` + `class`.
    pub fn release_key(&self) -> Option<String> {
        match &self.body {
            EventBody::GradeEntered { grade, .. } => {
                Some(release_key(&grade.assessment, &grade.class))
            }
            EventBody::AssessmentReleased { assessment, class } => {
                Some(release_key(assessment, class))
            }
            _ => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }
}

/// The key that ties a grade to the classroom release of its assessment.
pub fn release_key(assessment: &str, class: &str) -> String {
    format!("{assessment}\u{1f}{class}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade_json() -> serde_json::Value {
        serde_json::json!({
            "id": "evt-1", "type": "grade.entered", "school": "coornhert",
            "occurred_at": "2026-11-20T21:14:00+01:00", "record": "r-1", "student": "s-1001",
            "grade": {"assessment": "a-1", "subject": "wiskunde", "class": "3c",
                      "description": "Toets H3", "value": "5,4", "numeric": 5.4, "weight": 2, "kind": "test"},
            "extra": "ignored"
        })
    }

    #[test]
    fn parses_a_grade_and_ignores_unknown_fields() {
        let e = Event::from_value(&grade_json()).unwrap();
        assert_eq!(e.id, "evt-1");
        assert_eq!(e.type_name(), "grade.entered");
        let EventBody::GradeEntered { grade, .. } = &e.body else {
            panic!()
        };
        assert_eq!(grade.value.0, "5,4");
        assert_eq!(grade.kind, GradeKind::Test);
        // Round trip through the canonical JSON.
        let again = Event::parse(e.to_json().as_bytes()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn errors_name_the_field() {
        let mut v = grade_json();
        v["grade"]["kind"] = "quiz".into();
        let err = Event::from_value(&v).unwrap_err();
        assert_eq!(err.field, "grade.kind");
        assert!(err.message.contains("quiz"), "{err}");

        let mut v = grade_json();
        v.as_object_mut().unwrap().remove("student");
        let err = Event::from_value(&v).unwrap_err();
        assert!(err.to_string().contains("student"), "{err}");

        let mut v = grade_json();
        v["occurred_at"] = "2026-11-20 21:14".into();
        let err = Event::from_value(&v).unwrap_err();
        assert_eq!(err.field, "occurred_at");

        let mut v = grade_json();
        v["type"] = "grade.deleted".into();
        let err = Event::from_value(&v).unwrap_err();
        assert_eq!(err.field, "type");

        let mut v = grade_json();
        v["id"] = "".into();
        assert_eq!(Event::from_value(&v).unwrap_err().field, "id");

        assert!(Event::parse(b"{not json")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
        assert!(Event::parse(b"[1]").is_err());
    }

    #[test]
    fn identifiers_have_a_length_limit_and_no_control_characters() {
        for field in ["id", "school", "record", "student"] {
            let mut v = grade_json();
            v[field] = "x".repeat(MAX_ID_BYTES).into();
            assert!(Event::from_value(&v).is_ok(), "{field} at the limit");
            v[field] = "x".repeat(1 << 20).into();
            let err = Event::from_value(&v).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.contains("at most 256"), "{err}");
            assert!(err.to_string().len() < 200, "the value is not echoed");
            v[field] = "a\nb".into();
            assert_eq!(Event::from_value(&v).unwrap_err().field, field);
        }
        let mut v = grade_json();
        v["grade"]["assessment"] = "a\u{1f}3c".into();
        assert_eq!(Event::from_value(&v).unwrap_err().field, "grade.assessment");
        v["grade"]["assessment"] = "Toets H3 — één".into();
        assert!(Event::from_value(&v).is_ok());
    }

    #[test]
    fn occurred_at_must_be_a_plausible_time_for_when_it_is_received() {
        let now: DateTime<Utc> = "2026-11-20T21:00:00Z".parse().unwrap();
        let at = |t: &str| {
            let mut v = grade_json();
            v["occurred_at"] = t.into();
            Event::from_value(&v).unwrap().check_received(now)
        };
        for ok in [
            "2000-01-01T00:00:00Z",
            "2000-01-01T01:00:00+01:00",
            "2026-11-20T21:14:00+01:00",
            "2026-11-21T21:00:00Z",
        ] {
            assert!(at(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:30:00+01:00",
            "1970-01-01T00:00:00Z",
            "2026-11-21T21:00:01Z",
            "9999-12-31T23:59:59-23:59",
        ] {
            let err = at(bad).unwrap_err();
            assert_eq!(err.field, "occurred_at", "{bad}");
        }
        // Year 10000 does not even parse as RFC 3339.
        let mut v = grade_json();
        v["occurred_at"] = "10000-01-01T00:00:00Z".into();
        assert_eq!(Event::from_value(&v).unwrap_err().field, "occurred_at");
    }

    #[test]
    fn parses_absences() {
        let v = serde_json::json!({
            "id": "evt-2", "type": "absence.registered", "school": "coornhert",
            "occurred_at": "2026-11-23T08:40:00+01:00", "record": "abs-9", "student": "s-1001",
            "absence": {"kind": "unauthorized", "start": "2026-11-23T08:30:00+01:00", "period": 1}
        });
        let e = Event::from_value(&v).unwrap();
        let EventBody::AbsenceRegistered { absence, .. } = &e.body else {
            panic!()
        };
        assert_eq!(absence.kind, AbsenceKind::Unauthorized);
        assert_eq!(absence.period.as_ref().unwrap().0, "1");

        let mut bad = v.clone();
        bad["absence"]["start"] = "morning".into();
        assert_eq!(Event::from_value(&bad).unwrap_err().field, "absence.start");
    }
}
