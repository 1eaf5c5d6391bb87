//! The pure part of polling: a fetch against the stored snapshot gives the events to emit and
//! the snapshot to store. No IO; `now` is an argument.
//!
//! - a key not seen before → `grade.entered` / `absence.registered`;
//! - a key whose item changed → the same again for the record (a correction);
//! - a key that disappeared → `grade.withdrawn` / `absence.withdrawn`;
//! - the first poll of a scope (a baseline) records what is there and emits nothing.
//!
//! An event's id is a hash of (source, school, scope, key, version, digest): the same poll
//! repeated against the same snapshot gives the same ids, so a crash between committing the
//! events and committing the snapshot only repeats ids that ingest drops as duplicates. The
//! version counts the events of a key (tombstones keep it), so a value that comes back later
//! (5,4 → 5,8 → 5,4) still gets a fresh id.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{BadInput, Fetched, Item, ItemBody};
use crate::model::{Event, EventBody};
use crate::store::snapshot::{SnapRow, Snapshot, SnapshotChange};

/// Safety rails need a scope of at least this many live items (or withdrawals).
pub const MASS_CHANGE_MIN: usize = 10;

const BAD: &str = "bad";

/// What the diff needs besides the snapshot and the fetch.
#[derive(Debug, Clone)]
pub struct DiffInput<'a> {
    pub source: &'a str,
    pub school: &'a str,
    pub scope: &'a str,
    pub now: DateTime<Utc>,
    /// The first poll of a scope records and emits nothing (no flood of old grades).
    pub baseline: bool,
    /// A poll that would withdraw more than this share of the live items is held.
    pub withdraw_limit: f64,
}

/// How many items went which way, for logs, health and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub new: usize,
    pub changed: usize,
    pub withdrawn: usize,
    pub unchanged: usize,
    pub quarantined: usize,
    /// Recorded without an event (a baseline).
    pub recorded: usize,
}

impl Counts {
    pub fn add(&mut self, o: Counts) {
        self.new += o.new;
        self.changed += o.changed;
        self.withdrawn += o.withdrawn;
        self.unchanged += o.unchanged;
        self.quarantined += o.quarantined;
        self.recorded += o.recorded;
    }

    pub fn events(&self) -> usize {
        self.new + self.changed + self.withdrawn
    }
}

/// The events to commit, then the snapshot change to commit after them.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub events: Vec<Event>,
    pub quarantine: Vec<BadInput>,
    pub change: SnapshotChange,
    pub counts: Counts,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Apply(Diff),
    /// More items vanished at once than `withdraw_limit` allows (a truncated export, a SIS
    /// answering with half its data): nothing is applied; the operator is told.
    Held {
        withdrawing: usize,
        live: usize,
    },
    /// The whole scope came back empty although it held items (a new school year, an
    /// emptied export): the scope is forgotten without events and its next poll is a
    /// baseline, so neither the emptying nor the refill floods anyone.
    Reset {
        forgotten: usize,
    },
}

/// Compares a scope's fetch with its stored snapshot (`None`: never polled).
pub fn diff(old: Option<&Snapshot>, fetched: Fetched, input: &DiffInput) -> Verdict {
    let baseline = input.baseline && old.is_none();
    let empty = Snapshot::default();
    let old = old.unwrap_or(&empty);
    let live = old
        .rows
        .values()
        .filter(|r| r.kind != BAD && r.digest.is_some())
        .count();
    if fetched.parts.is_none()
        && fetched.items.is_empty()
        && fetched.bad.is_empty()
        && live >= MASS_CHANGE_MIN
    {
        return Verdict::Reset { forgotten: live };
    }

    let mut out = Diff::default();
    let mut seen: HashSet<String> = HashSet::with_capacity(fetched.items.len());
    let mut protected: HashSet<String> = HashSet::new();
    let mut bad = fetched.bad;

    for item in fetched.items {
        if !seen.insert(item.key.clone()) {
            bad.push(BadInput {
                key: None,
                place: format!("{} key {}", input.scope, item.key),
                field: String::new(),
                message: "the same key appears twice in one fetch; the first one counts".into(),
                raw: item_raw(&item),
            });
            continue;
        }
        let digest = item_digest(&item);
        let prev = old.rows.get(&item.key);
        let row_of = |version: i64| SnapRow {
            key: item.key.clone(),
            digest: Some(digest.clone()),
            version,
            kind: item.body.kind().to_string(),
            record: item.record.clone(),
            student: item.student.clone(),
            part: item.part.clone(),
        };
        match prev {
            Some(p) if p.digest.as_deref() == Some(digest.as_str()) && p.kind != BAD => {
                out.counts.unchanged += 1;
                if p.part != item.part {
                    out.change.upsert.push(row_of(p.version));
                }
            }
            _ if baseline => {
                out.counts.recorded += 1;
                out.change.upsert.push(row_of(0));
            }
            prev => {
                let live_before = prev.is_some_and(|p| p.digest.is_some() && p.kind != BAD);
                let version = prev.map(|p| p.version).unwrap_or(0) + 1;
                let at = match (live_before, item.at) {
                    (false, Some(at)) => at.min(input.now.fixed_offset()),
                    _ => input.now.fixed_offset(),
                };
                let id = event_id(input, &item.key, version, &digest);
                let body = match item.body.clone() {
                    ItemBody::Grade(grade) => EventBody::GradeEntered {
                        student: item.student.clone(),
                        grade,
                    },
                    ItemBody::Absence(absence) => EventBody::AbsenceRegistered {
                        student: item.student.clone(),
                        absence,
                    },
                };
                out.events.push(Event {
                    id,
                    school: input.school.to_string(),
                    occurred_at: at,
                    record: item.record.clone(),
                    body,
                });
                if live_before {
                    out.counts.changed += 1;
                } else {
                    out.counts.new += 1;
                }
                out.change.upsert.push(row_of(version));
            }
        }
    }

    // Broken input: quarantined once; the item it would have been keeps its last state.
    let mut bad_seen: HashSet<String> = HashSet::new();
    for b in bad {
        if let Some(k) = &b.key {
            protected.insert(k.clone());
        }
        let key = bad_key(&b);
        if !bad_seen.insert(key.clone()) {
            continue;
        }
        if old.rows.contains_key(&key) {
            continue;
        }
        out.counts.quarantined += 1;
        out.quarantine.push(b);
        out.change.upsert.push(SnapRow {
            key,
            digest: Some(String::new()),
            version: 0,
            kind: BAD.into(),
            record: String::new(),
            student: String::new(),
            part: None,
        });
    }

    let covered: Option<HashSet<&str>> = fetched
        .parts
        .as_ref()
        .map(|p| p.iter().map(String::as_str).collect());
    let mut withdrawing = 0;
    let mut rows: Vec<&SnapRow> = old.rows.values().collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    for row in rows {
        if seen.contains(&row.key) || bad_seen.contains(&row.key) {
            continue;
        }
        let expired = match (&fetched.prune_before, &row.part) {
            (Some(before), Some(part)) => part < before,
            _ => false,
        };
        if expired || row.kind == BAD {
            // Out of the source's window, or broken input that is gone or fixed.
            out.change.delete.push(row.key.clone());
            continue;
        }
        let shielded = protected.contains(&row.key)
            || protected
                .iter()
                .any(|p| p.ends_with('/') && row.key.starts_with(p.as_str()));
        if row.digest.is_none() || shielded {
            continue;
        }
        let in_fetch = match (&covered, &row.part) {
            (None, _) => true,
            (Some(c), Some(part)) => c.contains(part.as_str()),
            (Some(_), None) => false,
        };
        if !in_fetch {
            continue;
        }
        withdrawing += 1;
        let version = row.version + 1;
        let body = match row.kind.as_str() {
            "grade" => EventBody::GradeWithdrawn {
                student: row.student.clone(),
            },
            _ => EventBody::AbsenceWithdrawn {
                student: row.student.clone(),
            },
        };
        out.events.push(Event {
            id: event_id(input, &row.key, version, "-"),
            school: input.school.to_string(),
            occurred_at: input.now.fixed_offset(),
            record: row.record.clone(),
            body,
        });
        out.counts.withdrawn += 1;
        out.change.upsert.push(SnapRow {
            digest: None,
            version,
            ..row.clone()
        });
    }
    if withdrawing >= MASS_CHANGE_MIN && withdrawing as f64 > input.withdraw_limit * live as f64 {
        return Verdict::Held { withdrawing, live };
    }
    out.change.cursor = fetched.cursor;
    Verdict::Apply(out)
}

/// `{source}-{24 hex}`: stable for the same (school, scope, key, version, digest).
fn event_id(input: &DiffInput, key: &str, version: i64, digest: &str) -> String {
    let mut h = Sha256::new();
    for part in [input.source, input.school, input.scope, key] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    h.update(version.to_string().as_bytes());
    h.update([0x1f]);
    h.update(digest.as_bytes());
    format!("{}-{}", input.source, hex::encode(&h.finalize()[..12]))
}

/// What identifies an item's content: record, student and the event fields, not the key's
/// position in the source nor when it was fetched.
fn item_digest(item: &Item) -> String {
    let mut h = Sha256::new();
    h.update(item_raw(item));
    hex::encode(&h.finalize()[..16])
}

fn item_raw(item: &Item) -> Vec<u8> {
    let body = match &item.body {
        ItemBody::Grade(g) => serde_json::to_value(g),
        ItemBody::Absence(a) => serde_json::to_value(a),
    }
    .expect("items serialize");
    serde_json::to_vec(&serde_json::json!([
        item.body.kind(),
        item.record,
        item.student,
        body
    ]))
    .expect("items serialize")
}

fn bad_key(b: &BadInput) -> String {
    let mut h = Sha256::new();
    h.update(b.field.as_bytes());
    h.update([0x1f]);
    h.update(&b.raw);
    format!("!bad:{}", hex::encode(&h.finalize()[..16]))
}

/// The snapshot after applying `change` to `old` (what the store will hold).
pub fn apply(old: Option<&Snapshot>, change: &SnapshotChange) -> Snapshot {
    let mut s = old.cloned().unwrap_or_default();
    for k in &change.delete {
        s.rows.remove(k);
    }
    for r in &change.upsert {
        s.rows.insert(r.key.clone(), r.clone());
    }
    if change.cursor.is_some() {
        s.cursor = change.cursor.clone();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Grade, GradeKind, NonEmpty, Scalar};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn grade(key: &str, value: &str) -> Item {
        Item {
            key: key.into(),
            record: format!("r-{key}"),
            student: "s-1".into(),
            body: ItemBody::Grade(Grade {
                assessment: NonEmpty(format!("a-{key}")),
                subject: NonEmpty("wiskunde".into()),
                class: NonEmpty("3c".into()),
                description: String::new(),
                value: Scalar(value.into()),
                numeric: None,
                weight: None,
                kind: GradeKind::Test,
            }),
            at: None,
            part: None,
        }
    }

    fn input(baseline: bool) -> DiffInput<'static> {
        DiffInput {
            source: "som",
            school: "coornhert",
            scope: "s-1",
            now: Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
            baseline,
            withdraw_limit: 0.5,
        }
    }

    fn fetch(items: Vec<Item>) -> Fetched {
        Fetched {
            items,
            ..Fetched::default()
        }
    }

    /// Runs one poll; returns (event type, record) pairs, the ids, and the new snapshot.
    fn poll(
        old: Option<&Snapshot>,
        f: Fetched,
        baseline: bool,
    ) -> (Vec<(String, String)>, Vec<String>, Snapshot) {
        match diff(old, f, &input(baseline)) {
            Verdict::Apply(d) => (
                d.events
                    .iter()
                    .map(|e| (e.type_name().to_string(), e.record.clone()))
                    .collect(),
                d.events.iter().map(|e| e.id.clone()).collect(),
                apply(old, &d.change),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_baseline_records_and_emits_nothing_then_changes_come_out_once() {
        let (ev, _, s0) = poll(None, fetch(vec![grade("a", "5,4"), grade("b", "7")]), true);
        assert!(ev.is_empty());
        assert_eq!(s0.rows.len(), 2);
        assert!(s0.rows.values().all(|r| r.version == 0));
        // Nothing changed: nothing emitted, nothing to store.
        let Verdict::Apply(d) = diff(
            Some(&s0),
            fetch(vec![grade("b", "7"), grade("a", "5,4")]),
            &input(true),
        ) else {
            panic!()
        };
        assert!(d.events.is_empty() && d.change.is_empty());
        assert_eq!(d.counts.unchanged, 2);
        // New, corrected, removed.
        let (ev, _, s1) = poll(
            Some(&s0),
            fetch(vec![grade("a", "5,8"), grade("c", "6")]),
            true,
        );
        let mut ev = ev;
        ev.sort();
        assert_eq!(
            ev,
            vec![
                ("grade.entered".to_string(), "r-a".to_string()),
                ("grade.entered".to_string(), "r-c".to_string()),
                ("grade.withdrawn".to_string(), "r-b".to_string()),
            ]
        );
        assert_eq!(s1.rows["b"].digest, None, "a tombstone");
        assert_eq!(s1.rows["b"].version, 1);
    }

    #[test]
    fn without_a_baseline_the_first_poll_emits_everything() {
        let (ev, _, _) = poll(None, fetch(vec![grade("a", "5,4")]), false);
        assert_eq!(ev, vec![("grade.entered".into(), "r-a".into())]);
    }

    #[test]
    fn a_polled_empty_scope_is_not_a_baseline_again() {
        let (_, _, s0) = poll(None, fetch(vec![]), true);
        let (ev, _, _) = poll(Some(&s0), fetch(vec![grade("a", "8")]), true);
        assert_eq!(
            ev.len(),
            1,
            "the first grade of a student who had none is news"
        );
    }

    #[test]
    fn repeating_a_poll_gives_the_same_ids_and_returning_values_new_ones() {
        let (_, _, s0) = poll(None, fetch(vec![grade("a", "5,4")]), true);
        let f1 = fetch(vec![grade("a", "5,8")]);
        let (_, ids1, s1) = poll(Some(&s0), f1.clone(), true);
        // A crash before the snapshot was stored: the same poll again, the same id.
        let (_, again, _) = poll(Some(&s0), f1, true);
        assert_eq!(ids1, again);
        // 5,4 again: a new id although that value was seen before.
        let (_, ids2, s2) = poll(Some(&s1), fetch(vec![grade("a", "5,4")]), true);
        let (_, ids3, s3) = poll(Some(&s2), fetch(vec![]), true);
        let (_, ids4, _) = poll(Some(&s3), fetch(vec![grade("a", "5,8")]), true);
        let all: HashSet<&String> = ids1.iter().chain(&ids2).chain(&ids3).chain(&ids4).collect();
        assert_eq!(all.len(), 4, "{ids1:?} {ids2:?} {ids3:?} {ids4:?}");
        assert!(ids1[0].starts_with("som-"));
    }

    #[test]
    fn broken_input_is_quarantined_once_and_keeps_the_item() {
        let (_, _, s0) = poll(None, fetch(vec![grade("a", "5,4"), grade("b", "7")]), true);
        let broken = BadInput {
            key: Some("b".into()),
            place: "cijfers.csv line 3".into(),
            field: "Cijfer".into(),
            message: "not a grade".into(),
            raw: b"s-1;b;??".to_vec(),
        };
        let f = Fetched {
            items: vec![grade("a", "5,4")],
            bad: vec![broken.clone()],
            ..Fetched::default()
        };
        let Verdict::Apply(d) = diff(Some(&s0), f.clone(), &input(true)) else {
            panic!()
        };
        assert!(d.events.is_empty(), "not a withdrawal: {:?}", d.events);
        assert_eq!(d.quarantine, vec![broken]);
        let s1 = apply(Some(&s0), &d.change);
        let Verdict::Apply(d) = diff(Some(&s1), f, &input(true)) else {
            panic!()
        };
        assert!(
            d.quarantine.is_empty() && d.events.is_empty(),
            "once: {d:?}"
        );
        // Fixed: the bad row is forgotten, the item compared as usual.
        let (ev, _, s2) = poll(
            Some(&s1),
            fetch(vec![grade("a", "5,4"), grade("b", "7,5")]),
            true,
        );
        assert_eq!(ev, vec![("grade.entered".into(), "r-b".into())]);
        assert!(s2.rows.keys().all(|k| !k.starts_with("!bad:")));
    }

    #[test]
    fn a_key_twice_is_quarantined() {
        let Verdict::Apply(d) = diff(
            None,
            fetch(vec![grade("a", "1"), grade("a", "2")]),
            &input(false),
        ) else {
            panic!()
        };
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.quarantine.len(), 1);
    }

    fn on(day: &str, key: &str) -> Item {
        Item {
            part: Some(day.into()),
            ..grade(key, "x")
        }
    }

    #[test]
    fn parts_not_covered_are_left_alone_and_old_parts_forgotten() {
        let f = Fetched {
            items: vec![on("2026-11-20", "a"), on("2026-11-23", "b")],
            parts: Some(vec!["2026-11-20".into(), "2026-11-23".into()]),
            ..Fetched::default()
        };
        let (_, _, s0) = poll(None, f, true);
        // Only the 23rd fetched, and it is empty now: b withdrawn, a untouched.
        let f = Fetched {
            parts: Some(vec!["2026-11-23".into()]),
            ..Fetched::default()
        };
        let (ev, _, s1) = poll(Some(&s0), f, true);
        assert_eq!(ev, vec![("grade.withdrawn".into(), "r-b".into())]);
        assert!(s1.rows["a"].digest.is_some());
        // The 20th leaves the window: forgotten without an event.
        let f = Fetched {
            parts: Some(vec!["2026-11-24".into()]),
            prune_before: Some("2026-11-21".into()),
            ..Fetched::default()
        };
        let (ev, _, s2) = poll(Some(&s1), f, true);
        assert!(ev.is_empty());
        assert!(!s2.rows.contains_key("a"));
    }

    #[test]
    fn mass_vanishing_is_held_and_an_emptied_scope_reset() {
        let many: Vec<Item> = (0..20).map(|i| grade(&format!("k{i}"), "6")).collect();
        let (_, _, s0) = poll(None, fetch(many.clone()), true);
        // 12 of 20 gone: held, nothing applied.
        let v = diff(Some(&s0), fetch(many[..8].to_vec()), &input(true));
        assert!(
            matches!(
                v,
                Verdict::Held {
                    withdrawing: 12,
                    live: 20
                }
            ),
            "{v:?}"
        );
        // 5 of 20: normal withdrawals.
        let (ev, _, _) = poll(Some(&s0), fetch(many[..15].to_vec()), true);
        assert_eq!(ev.len(), 5);
        // Everything gone: a reset, not 20 withdrawals.
        let v = diff(Some(&s0), fetch(vec![]), &input(true));
        assert!(matches!(v, Verdict::Reset { forgotten: 20 }), "{v:?}");
        // A raised limit lets a real mass deletion through.
        let mut i = input(true);
        i.withdraw_limit = 1.0;
        assert!(matches!(
            diff(Some(&s0), fetch(many[..8].to_vec()), &i),
            Verdict::Apply(_)
        ));
    }

    #[test]
    fn a_new_item_keeps_the_sis_time_and_corrections_take_now() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T21:14:00+01:00").unwrap();
        let mut g = grade("a", "5,4");
        g.at = Some(at);
        let Verdict::Apply(d) = diff(None, fetch(vec![g.clone()]), &input(false)) else {
            panic!()
        };
        assert_eq!(d.events[0].occurred_at, at);
        let s = apply(None, &d.change);
        g.body = grade("a", "5,8").body;
        let Verdict::Apply(d) = diff(Some(&s), fetch(vec![g]), &input(false)) else {
            panic!()
        };
        assert_eq!(d.events[0].occurred_utc(), input(false).now);
    }

    proptest! {
        /// Over any sequence of fetches, with any poll repeated as after a crash before its
        /// snapshot was stored: every event id is new exactly when it should be, and the
        /// records that are live after the events are exactly those of the last fetch.
        #[test]
        fn polls_emit_each_change_once(
            steps in prop::collection::vec(
                (prop::collection::btree_map(0u8..6, 0u8..3, 0..6), any::<bool>()),
                1..12,
            )
        ) {
            let mut snap: Option<Snapshot> = None;
            let mut ids: HashSet<String> = HashSet::new();
            let mut live: std::collections::BTreeMap<String, String> = Default::default();
            for (fetched, crash) in steps {
                let items: Vec<Item> = fetched
                    .iter()
                    .map(|(k, v)| grade(&format!("k{k}"), &v.to_string()))
                    .collect();
                let mut i = input(true);
                i.withdraw_limit = 1.0;
                let v = diff(snap.as_ref(), fetch(items.clone()), &i);
                let Verdict::Apply(d) = v else { continue };
                if crash {
                    // The events were committed, the snapshot was not: the same poll again.
                    let Verdict::Apply(again) = diff(snap.as_ref(), fetch(items), &i) else {
                        panic!()
                    };
                    let a: Vec<&String> = d.events.iter().map(|e| &e.id).collect();
                    let b: Vec<&String> = again.events.iter().map(|e| &e.id).collect();
                    prop_assert_eq!(a, b);
                }
                let first = snap.is_none();
                for e in &d.events {
                    prop_assert!(ids.insert(e.id.clone()), "id {} twice", e.id);
                    match &e.body {
                        EventBody::GradeEntered { grade, .. } => {
                            live.insert(e.record.clone(), grade.value.0.clone());
                        }
                        _ => {
                            live.remove(&e.record);
                        }
                    }
                }
                snap = Some(apply(snap.as_ref(), &d.change));
                if first {
                    // The baseline: what is there counts as known.
                    live = fetched.iter().map(|(k, v)| (format!("r-k{k}"), v.to_string())).collect();
                }
                let expect: std::collections::BTreeMap<String, String> =
                    fetched.iter().map(|(k, v)| (format!("r-k{k}"), v.to_string())).collect();
                prop_assert_eq!(&live, &expect);
            }
        }
    }
}
