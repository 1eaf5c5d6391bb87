//! A valid event read straight from its bytes.
//!
//! The checked path ([`Event::parse_checked`]) builds a `serde_json::Value` and reads each
//! part out of it with the field's path tracked, so that an error names the field. That is
//! ~34 000 instructions per event, paid at ingest and again each time the release loads a
//! stored event (issue 18), while nearly every event is valid. This reads the same fields
//! with the same checks in one pass and gives `None` for anything it does not accept, so
//! the caller takes the checked path and its error. It accepts only what the checked path
//! accepts, with the same result (the property test below).

use serde::Deserialize;

use super::{Absence, Event, EventBody, Grade, NonEmpty, Rfc3339};

#[derive(Deserialize)]
enum Type {
    #[serde(rename = "grade.entered")]
    GradeEntered,
    #[serde(rename = "grade.withdrawn")]
    GradeWithdrawn,
    #[serde(rename = "assessment.released")]
    AssessmentReleased,
    #[serde(rename = "absence.registered")]
    AbsenceRegistered,
    #[serde(rename = "absence.withdrawn")]
    AbsenceWithdrawn,
}

/// Every field of every event type; which ones a type needs is checked after reading.
/// A field given twice is an error here (the checked path takes the last), and so is a
/// field that the event's type does not use but that is malformed: both go the checked way.
#[derive(Deserialize)]
struct Flat {
    id: NonEmpty,
    #[serde(rename = "type")]
    kind: Type,
    school: NonEmpty,
    occurred_at: Rfc3339,
    record: NonEmpty,
    student: Option<NonEmpty>,
    grade: Option<Grade>,
    absence: Option<Absence>,
    assessment: Option<NonEmpty>,
    class: Option<NonEmpty>,
}

/// The event in `raw`, or `None` when it is not a valid event (or one this path declines).
pub(super) fn parse(raw: &[u8]) -> Option<Event> {
    // serde reads a struct from a JSON array too; an event must be an object.
    if raw.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let f: Flat = serde_json::from_slice(raw).ok()?;
    let body = match f.kind {
        Type::GradeEntered => EventBody::GradeEntered {
            student: f.student?.0,
            grade: f.grade?,
        },
        Type::GradeWithdrawn => EventBody::GradeWithdrawn {
            student: f.student?.0,
        },
        Type::AssessmentReleased => EventBody::AssessmentReleased {
            assessment: f.assessment?.0,
            class: f.class?.0,
        },
        Type::AbsenceRegistered => EventBody::AbsenceRegistered {
            student: f.student?.0,
            absence: f.absence?,
        },
        Type::AbsenceWithdrawn => EventBody::AbsenceWithdrawn {
            student: f.student?.0,
        },
    };
    Some(Event {
        id: f.id.0,
        school: f.school.0,
        occurred_at: f.occurred_at.0,
        record: f.record.0,
        body,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::model::event::EVENT_TYPES;

    /// A valid event of every type's fields at once (each type ignores the others' fields).
    fn valid(kind: &str, absence_start: &str) -> Value {
        json!({
            "id": "evt-1", "type": kind, "school": "coornhert", "record": "r-1",
            "occurred_at": "2026-11-20T21:14:00+01:00", "student": "s-1001",
            "grade": {"assessment": "a-1", "subject": "wiskunde", "class": "3c",
                      "description": "Toets H3", "value": "5,4", "numeric": 5.4, "weight": 2,
                      "kind": "test"},
            "absence": {"kind": "sick", "start": absence_start,
                        "end": "2026-11-23T10:00:00+01:00", "period": 1, "subject": "wiskunde",
                        "note": "Ziek gemeld"},
            "assessment": "a-1", "class": "3c", "extra": {"ignored": [1, 2]}
        })
    }

    /// An event's top-level fields, in the order [`Flat`] declares them.
    const FIELDS: [&str; 10] = [
        "id",
        "type",
        "school",
        "occurred_at",
        "record",
        "student",
        "grade",
        "absence",
        "assessment",
        "class",
    ];

    /// Where else a defect goes: one of a grade's or an absence's fields, or an unknown one.
    const INNER: [&str; 15] = [
        "grade.assessment",
        "grade.subject",
        "grade.class",
        "grade.description",
        "grade.value",
        "grade.numeric",
        "grade.weight",
        "grade.kind",
        "absence.kind",
        "absence.start",
        "absence.end",
        "absence.period",
        "absence.subject",
        "absence.note",
        "extra",
    ];

    /// What a defect puts there; `None` takes the field out.
    fn defect() -> BoxedStrategy<Option<Value>> {
        proptest::sample::select(vec![
            None,
            Some(Value::Null),
            Some(json!("")),
            Some(json!("  ")),
            Some(json!(7)),
            Some(json!(5.5)),
            Some(json!(true)),
            Some(json!([1])),
            Some(json!({})),
            Some(json!("a\nb")),
            Some(Value::from("x".repeat(300))),
            Some(json!("flu")),
            Some(json!("grade.deleted")),
            Some(json!("2026-11-20 21:14")),
            Some(json!("2026-11-23")),
            Some(json!("2026-11-23T08:30:00Z")),
            Some(json!("absence.registered")),
        ])
        .boxed()
    }

    fn event() -> BoxedStrategy<Value> {
        let places: Vec<&str> = FIELDS.iter().chain(&INNER).copied().collect();
        let defects = proptest::collection::vec((proptest::sample::select(places), defect()), 0..3);
        (
            proptest::sample::select(&EVENT_TYPES[..]),
            proptest::sample::select(vec!["2026-11-23T08:30:00+01:00", "2026-11-23"]),
            defects,
        )
            .prop_map(|(kind, start, defects)| {
                let mut event = valid(kind, start);
                for (place, value) in defects {
                    let (object, field) = match place.split_once('.') {
                        Some((outer, field)) => (&mut event[outer], field),
                        None => (&mut event, place),
                    };
                    if let Some(object) = object.as_object_mut() {
                        match value {
                            Some(v) => object.insert(field.to_string(), v),
                            None => object.remove(field),
                        };
                    }
                }
                event
            })
            .boxed()
    }

    /// The bytes of an event as a sender might write them: as is, with a field given twice,
    /// as an array of its fields in the order this path declares them, or after white space.
    fn raw(event: &Value, shape: u8) -> String {
        let text = event.to_string();
        match shape {
            0 => text,
            1 => text.replacen('{', "{\"id\":\"twice\",", 1),
            2 => Value::Array(FIELDS.iter().map(|f| event[f].clone()).collect()).to_string(),
            _ => format!(" \n{text}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// What this path reads, the checked path reads the same; what the checked path
        /// rejects, this path rejects; and a stored event (its canonical JSON) is always read
        /// here, so the release never takes the slow way for it.
        #[test]
        fn reads_what_the_checked_path_reads(event in event(), shape in 0u8..4) {
            let raw = raw(&event, shape);
            let checked = Event::parse_checked(raw.as_bytes());
            if let Some(direct) = parse(raw.as_bytes()) {
                prop_assert_eq!(Ok(direct), checked.clone());
            }
            if let Ok(e) = checked {
                prop_assert_eq!(parse(e.to_json().as_bytes()), Some(e));
            }
        }
    }

    #[test]
    fn valid_events_of_every_type_take_this_path() {
        let events = [
            json!({"id": "e1", "type": "grade.entered", "school": "s", "record": "r",
                   "occurred_at": "2026-11-20T21:14:00+01:00", "student": "s-1",
                   "grade": {"assessment": "a", "subject": "wiskunde", "class": "3c",
                             "value": 5.4, "weight": 2, "kind": "test"}}),
            json!({"id": "e2", "type": "grade.withdrawn", "school": "s", "record": "r",
                   "occurred_at": "2026-11-20T21:14:00Z", "student": "s-1"}),
            json!({"id": "e3", "type": "assessment.released", "school": "s", "record": "r",
                   "occurred_at": "2026-11-20T21:14:00Z", "assessment": "a", "class": "3c"}),
            json!({"id": "e4", "type": "absence.registered", "school": "s", "record": "r",
                   "occurred_at": "2026-11-20T21:14:00Z", "student": "s-1",
                   "absence": {"kind": "sick", "start": "2026-11-23", "period": 1,
                               "note": "Ziek gemeld"}}),
            json!({"id": "e5", "type": "absence.withdrawn", "school": "s", "record": "r",
                   "occurred_at": "2026-11-20T21:14:00Z", "student": "s-1"}),
        ];
        for e in events {
            let raw = e.to_string();
            let direct = parse(raw.as_bytes()).unwrap_or_else(|| panic!("not read: {raw}"));
            assert_eq!(Ok(direct), Event::parse_checked(raw.as_bytes()));
        }
        // Declined, and the checked path names the field.
        let raw = br#"{"id":"e","type":"grade.entered","school":"s","record":"r",
                       "occurred_at":"2026-11-20T21:14:00Z","student":"s-1"}"#;
        assert!(parse(raw).is_none());
        assert_eq!(Event::parse(raw).unwrap_err().field, "grade");
    }
}
