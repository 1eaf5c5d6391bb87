//! Export rows → grades and absences, by the column mapping of `[[ingest.export]]`. Pure.
//! A row that does not fit becomes a [`BadInput`] naming the file, line and column; values
//! are never guessed (an unmapped kind is quarantined, not defaulted, unless the operator
//! set `default_kind`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::table::{Row, Table};
use crate::config::sis::{ColumnRef, CsvFormat, ExportConfig, ExportKind};
use crate::model::event::{Absence, Grade, GradeKind, LocalMoment, NonEmpty, Scalar};
use crate::model::AbsenceKind;
use crate::source::poll::{BadInput, Item, ItemBody};

/// Date formats tried when the config names none (day-month-year is the Dutch order).
const DATE_FORMATS: [&str; 10] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d",
    "%d-%m-%Y",
    "%d/%m/%Y",
];

/// One file's rows as items and quarantined rows.
pub fn items(cfg: &ExportConfig, tz: Tz, file: &str, table: Table) -> (Vec<Item>, Vec<BadInput>) {
    let mut items = Vec::with_capacity(table.rows.len());
    let mut bad: Vec<BadInput> = table
        .broken
        .into_iter()
        .map(|b| BadInput {
            key: cfg
                .columns
                .get("record")
                .map(|c| join_fields(&b.fields, c, "/"))
                .filter(|k| !k.is_empty()),
            place: format!("{file} line {}", b.line),
            field: String::new(),
            message: b.message,
            raw: b.raw.into_bytes(),
        })
        .collect();
    let m = Mapper { cfg, tz, file };
    for row in &table.rows {
        match m.row(row) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {}
            Err(b) => bad.push(b),
        }
    }
    (items, bad)
}

struct Mapper<'a> {
    cfg: &'a ExportConfig,
    tz: Tz,
    file: &'a str,
}

impl Mapper<'_> {
    fn row(&self, row: &Row) -> Result<Option<Item>, BadInput> {
        let record = self.get(row, "record", "/").unwrap_or_default();
        if record.is_empty() {
            return Err(self.bad(row, None, "record", "the record key is empty".into()));
        }
        let key = Some(record.clone());
        let student = self
            .get(row, "student", "/")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.bad(row, key.clone(), "student", "the student is empty".into()))?;
        let at = match self.get(row, "entered_at", " ").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                moment(&s, &self.cfg.file.csv, self.tz)
                    .and_then(|(_, at)| at)
                    .ok_or_else(|| {
                        self.bad(
                            row,
                            key.clone(),
                            "entered_at",
                            format!("{s:?} is not a date and time"),
                        )
                    })?,
            ),
        };
        let body = match self.cfg.kind {
            ExportKind::Grades => match self.grade(row, &record, &key)? {
                Some(g) => ItemBody::Grade(g),
                None => return Ok(None),
            },
            ExportKind::Absences => ItemBody::Absence(self.absence(row, &key)?),
        };
        Ok(Some(Item {
            key: record.clone(),
            record,
            student,
            body,
            at,
            part: None,
        }))
    }

    /// `None` for a row without a value yet (an empty cell is not a grade).
    fn grade(
        &self,
        row: &Row,
        record: &str,
        key: &Option<String>,
    ) -> Result<Option<Grade>, BadInput> {
        let value = self.get(row, "value", " ").unwrap_or_default();
        if value.is_empty() {
            return Ok(None);
        }
        let required = |field: &str| {
            self.get(row, field, " ")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.bad(row, key.clone(), field, format!("the {field} is empty")))
        };
        let subject = required("subject")?;
        let class = required("class")?;
        let weight = match self.get(row, "weight", " ").filter(|s| !s.is_empty()) {
            None => None,
            Some(w) => Some(number(&w, &self.cfg.file.csv).ok_or_else(|| {
                self.bad(row, key.clone(), "weight", format!("{w:?} is not a number"))
            })?),
        };
        let kind = self.kind(row, key)?;
        let kind: GradeKind = serde_json::from_value(serde_json::Value::String(kind))
            .expect("grade kinds are checked with the config");
        Ok(Some(Grade {
            assessment: NonEmpty(
                self.get(row, "assessment", "/")
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| record.to_string()),
            ),
            subject: NonEmpty(subject),
            class: NonEmpty(class),
            description: self.get(row, "description", " ").unwrap_or_default(),
            numeric: number(&value, &self.cfg.file.csv),
            value: Scalar(value),
            weight,
            kind,
        }))
    }

    fn absence(&self, row: &Row, key: &Option<String>) -> Result<Absence, BadInput> {
        let kind = self.kind(row, key)?;
        let kind: AbsenceKind = serde_json::from_value(serde_json::Value::String(kind))
            .expect("absence kinds are checked with the config");
        let when = |field: &str| -> Result<Option<LocalMoment>, BadInput> {
            match self.get(row, field, " ").filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => moment(&s, &self.cfg.file.csv, self.tz)
                    .map(|(m, _)| Some(LocalMoment(m)))
                    .ok_or_else(|| {
                        self.bad(
                            row,
                            key.clone(),
                            field,
                            format!("{s:?} is not a date or time"),
                        )
                    }),
            }
        };
        let start = when("start")?
            .ok_or_else(|| self.bad(row, key.clone(), "start", "the start is empty".into()))?;
        let opt = |field: &str| self.get(row, field, " ").filter(|s| !s.is_empty());
        Ok(Absence {
            kind,
            start,
            end: when("end")?,
            period: opt("period").map(Scalar),
            subject: opt("subject"),
            note: opt("note"),
        })
    }

    /// The row's kind through the `kinds` map, else `default_kind`; never guessed.
    fn kind(&self, row: &Row, key: &Option<String>) -> Result<String, BadInput> {
        let raw = self.get(row, "kind", " ");
        if let Some(k) = raw.as_deref().and_then(|r| self.cfg.kinds.get(r)) {
            return Ok(k.clone());
        }
        if let Some(d) = &self.cfg.default_kind {
            return Ok(d.clone());
        }
        Err(self.bad(
            row,
            key.clone(),
            "kind",
            format!(
                "{:?} is not in kinds; add it to the mapping (values are never guessed)",
                raw.unwrap_or_default()
            ),
        ))
    }

    /// The mapped column's value (several columns joined by `sep`, empty parts left out);
    /// `None` when the field is not mapped.
    fn get(&self, row: &Row, field: &str, sep: &str) -> Option<String> {
        let c = self.cfg.columns.get(field)?;
        Some(join(row, c, sep))
    }

    fn bad(&self, row: &Row, key: Option<String>, field: &str, message: String) -> BadInput {
        let column = self
            .cfg
            .columns
            .get(field)
            .map(|c| c.names().join("+"))
            .unwrap_or_else(|| field.to_string());
        BadInput {
            key,
            place: format!("{} line {}", self.file, row.line),
            field: column,
            message,
            raw: row.raw.clone().into_bytes(),
        }
    }
}

/// The values of `c`'s columns in `row`, joined by `sep`, empty ones left out.
pub fn join(row: &Row, c: &ColumnRef, sep: &str) -> String {
    join_fields(&row.fields, c, sep)
}

fn join_fields(
    fields: &std::collections::BTreeMap<String, String>,
    c: &ColumnRef,
    sep: &str,
) -> String {
    c.names()
        .iter()
        .filter_map(|n| fields.get(*n))
        .filter(|v| !v.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}

/// A number as the export writes it ("7,5" with `decimal_comma`).
pub fn number(s: &str, f: &CsvFormat) -> Option<f64> {
    let s = s.trim();
    let n: f64 = if f.decimal_comma {
        s.replace(',', ".").parse().ok()?
    } else {
        s.parse().ok()?
    };
    n.is_finite().then_some(n)
}

/// A date or a date and time: as the event schema writes it (RFC 3339, or a plain date), and
/// as an instant when it has a time. Times without an offset are read in the school's zone.
pub fn moment(s: &str, f: &CsvFormat, tz: Tz) -> Option<(String, Option<DateTime<FixedOffset>>)> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.to_rfc3339(), Some(t)));
    }
    let formats: Vec<&str> = if f.date_formats.is_empty() {
        DATE_FORMATS.to_vec()
    } else {
        f.date_formats.iter().map(String::as_str).collect()
    };
    for fmt in formats {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            let local = tz.from_local_datetime(&naive).earliest()?;
            let t = local.fixed_offset();
            return Some((t.to_rfc3339(), Some(t)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some((d.format("%Y-%m-%d").to_string(), None));
        }
    }
    None
}
