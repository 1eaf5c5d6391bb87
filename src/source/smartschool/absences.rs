//! A `getAbsentsByDate` answer → absences. Pure.
//!
//! The answer's JSON is not publicly documented. rustig reads it as an object keyed by the
//! student's identifier, each value an object of day parts ("am", "pm", …) to the school's
//! absence code, or a single code for the whole day; an empty list means no absences. Codes
//! are the school's own: each must be mapped to a kind in `codes` or listed in `ignore`;
//! anything else is quarantined with its date and student, never guessed.

use chrono::NaiveDate;
use serde_json::Value;

use crate::config::sis::SmartschoolConfig;
use crate::model::event::{Absence, LocalMoment, Scalar};
use crate::source::poll::{BadInput, Item, ItemBody};

/// One date's answer: its absences, what was quarantined, and whether the date was read
/// (an unreadable answer covers nothing, so nothing of that date is withdrawn).
#[derive(Debug, Default)]
pub struct DayAbsences {
    pub items: Vec<Item>,
    pub bad: Vec<BadInput>,
    pub covered: bool,
}

pub fn read(cfg: &SmartschoolConfig, date: NaiveDate, json: &str) -> DayAbsences {
    let day = date.format("%Y-%m-%d").to_string();
    let place = format!("{} {day}", cfg.method);
    let mut out = DayAbsences::default();
    let value: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            out.bad
                .push(BadInput::not_json(&place, &e, json.as_bytes()));
            return out;
        }
    };
    let students = match value {
        Value::Object(m) => m,
        Value::Array(a) if a.is_empty() => {
            out.covered = true;
            return out;
        }
        other => {
            out.bad.push(BadInput {
                key: None,
                place,
                field: String::new(),
                message: "expected an object keyed by student".into(),
                raw: other.to_string().into_bytes(),
            });
            return out;
        }
    };
    out.covered = true;
    for (student, parts) in students {
        let parts: Vec<(String, Value)> = match parts {
            Value::Object(m) => m.into_iter().collect(),
            v @ (Value::String(_) | Value::Number(_)) => vec![("day".into(), v)],
            other => {
                out.bad.push(BadInput {
                    key: Some(format!("{day}/{student}/")),
                    place: format!("{place} student {student}"),
                    field: student.clone(),
                    message: "expected an object of day parts to codes, or a code".into(),
                    raw: other.to_string().into_bytes(),
                });
                continue;
            }
        };
        for (part, code) in parts {
            let key = format!("{day}/{student}/{part}");
            let code = match &code {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => String::new(),
                other => {
                    out.bad.push(BadInput {
                        key: Some(key),
                        place: format!("{place} student {student}"),
                        field: part,
                        message: format!("expected a code, got {other}"),
                        raw: other.to_string().into_bytes(),
                    });
                    continue;
                }
            };
            if cfg.ignore.contains(&code) {
                continue;
            }
            let Some(kind) = cfg.codes.get(&code) else {
                let raw = serde_json::json!({ &student: { &part: &code } }).to_string();
                out.bad.push(BadInput {
                    key: Some(key),
                    place: format!("{place} student {student}"),
                    field: part,
                    message: format!(
                        "absence code {code:?} is not in codes (nor in ignore); map it to a kind"
                    ),
                    raw: raw.into_bytes(),
                });
                continue;
            };
            out.items.push(Item {
                record: format!("{}/{key}", cfg.poll.name),
                key,
                student: student.clone(),
                body: ItemBody::Absence(Absence {
                    kind: *kind,
                    start: LocalMoment(day.clone()),
                    end: None,
                    period: Some(Scalar(part.clone())),
                    subject: None,
                    note: None,
                }),
                at: None,
                part: Some(day.clone()),
            });
        }
    }
    out
}
