//! How a notice's reasons are stored: a JSON array with one `[rule, from_ms, to_ms]` (or
//! `[rule, from_ms, to_ms, detail]`) per step. About half the bytes of the objects with
//! RFC 3339 times that the API shows (`Reason`'s own serde form), and integers to write instead
//! of formatted dates: the reasons were two thirds of a notice row's bytes (issue 18).
//!
//! Rows written before keep the object form; reading takes either form per step, so a row
//! that got a step appended since (a deferral, a resend) may hold both. SQL that looks into
//! the reasons reads either form too: the last rule is `$[#-1][0]` or `$[#-1].rule`, and a
//! rule's name appears quoted (`"classroom_release"`) in both.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use super::{from_ms, to_ms, StoreError};
use crate::policy::{Reason, Rule};

/// The stored form of `reasons`.
pub(crate) fn encode(reasons: &[Reason]) -> String {
    let mut out = Vec::with_capacity(48 * reasons.len() + 2);
    encode_into(&mut out, reasons);
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// [`encode`] into a buffer (ingest reuses one for a whole batch).
pub(crate) fn encode_into(out: &mut Vec<u8>, reasons: &[Reason]) {
    serde_json::Serializer::new(out)
        .collect_seq(reasons.iter().map(Step))
        .expect("reasons serialize");
}

/// One step in the stored form, to append to stored reasons in SQL.
pub(crate) fn encode_one(reason: &Reason) -> String {
    serde_json::to_string(&Step(reason)).expect("reason serializes")
}

/// Reads stored reasons, in either form.
pub(crate) fn decode(stored: &str) -> Result<Vec<Reason>, StoreError> {
    let steps: Vec<Stored> =
        serde_json::from_str(stored).map_err(|e| StoreError::Corrupt(format!("reasons: {e}")))?;
    Ok(steps.into_iter().map(|s| s.0).collect())
}

/// Stored reasons with `step` appended.
pub(crate) fn append(stored: &str, step: Reason) -> Result<String, StoreError> {
    let mut list = decode(stored)?;
    list.push(step);
    Ok(encode(&list))
}

/// Writes a step as `[rule, from_ms, to_ms]`, with the detail as a fourth item when there is
/// one.
struct Step<'a>(&'a Reason);

impl Serialize for Step<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let with_detail = !r.detail.is_empty();
        let mut t = s.serialize_tuple(if with_detail { 4 } else { 3 })?;
        t.serialize_element(&r.rule)?;
        t.serialize_element(&to_ms(r.from))?;
        t.serialize_element(&to_ms(r.to))?;
        if with_detail {
            t.serialize_element(&r.detail)?;
        }
        t.end()
    }
}

/// Reads a step in either form: an array (this module's) or an object (before it).
struct Stored(Reason);

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Stored;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a reason: [rule, from_ms, to_ms, detail?] or {rule, from, to, detail?}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stored, A::Error> {
        let rule: Rule = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let from: i64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let to: i64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
        let detail: Option<String> = seq.next_element()?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(5, &self));
        }
        Ok(Stored(Reason {
            rule,
            from: from_ms(from),
            to: from_ms(to),
            detail: detail.unwrap_or_default(),
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Stored, A::Error> {
        Reason::deserialize(de::value::MapAccessDeserializer::new(map)).map(Stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(h: u32, m: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 14, h, m, 0).unwrap()
    }

    fn sample() -> Vec<Reason> {
        vec![
            Reason::moved(Rule::Entered, at(20, 15), at(20, 15), ""),
            Reason::moved(
                Rule::QuietHours,
                at(20, 15),
                at(23, 0) + chrono::Duration::hours(8),
                "20:00–07:00",
            ),
            Reason::moved(Rule::GuardianDelay, at(7, 0), at(9, 0), ""),
        ]
    }

    #[test]
    fn reasons_read_back_as_written() {
        let stored = encode(&sample());
        assert_eq!(decode(&stored).unwrap(), sample());
        assert!(stored.starts_with("[[\"entered\","), "{stored}");
        assert!(stored.contains("\"20:00–07:00\"]"), "{stored}");
    }

    #[test]
    fn the_stored_form_is_about_half_the_objects() {
        let objects = serde_json::to_string(&sample()).unwrap();
        let stored = encode(&sample());
        assert!(
            stored.len() * 100 < objects.len() * 60,
            "{} bytes stored against {} as objects",
            stored.len(),
            objects.len()
        );
    }

    #[test]
    fn rows_written_before_still_read() {
        let before = serde_json::to_string(&sample()).unwrap();
        assert_eq!(decode(&before).unwrap(), sample());
        // A step appended since (in SQL) may sit next to the object form.
        let step = Reason::moved(Rule::DailyCap, at(9, 0), at(10, 0), "max 3 per day");
        let mixed = format!("{}, {}]", before.trim_end_matches(']'), encode_one(&step));
        let mut want = sample();
        want.push(step);
        assert_eq!(decode(&mixed).unwrap(), want);
    }

    #[test]
    fn append_adds_a_step() {
        let step = Reason::moved(Rule::Resend, at(9, 0), at(10, 0), "put back");
        let again = append(&encode(&sample()), step.clone()).unwrap();
        let mut want = sample();
        want.push(step);
        assert_eq!(decode(&again).unwrap(), want);
    }

    #[test]
    fn damaged_reasons_say_what_is_wrong() {
        for bad in [
            "[[\"entered\", 1]]",
            "[[\"no_such_rule\", 1, 2]]",
            "[[\"entered\", 1, 2, \"x\", 5]]",
            "[\"entered\"]",
            "{}",
        ] {
            let err = decode(bad).unwrap_err().to_string();
            assert!(err.contains("reasons"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_rules_name_appears_quoted_in_both_forms() {
        let r = vec![Reason::moved(
            Rule::ClassroomRelease,
            at(9, 0),
            at(10, 0),
            "",
        )];
        for stored in [encode(&r), serde_json::to_string(&r).unwrap()] {
            for mark in super::super::outlook::DISCUSSED_MARKS {
                if mark.contains("classroom_release") {
                    assert!(stored.contains(mark), "{stored} lacks {mark}");
                }
            }
        }
    }
}
