//! Table tests for the release policy of issue 3, one rule at a time, each with a fixed `now`.
//!
//! Every case goes through the public API only: the policy is parsed from TOML with
//! `Config::parse`, the directory and events from JSON, and `plan` is called with the facts the
//! store would gather. All times are written in Europe/Amsterdam local time with their offset.
//! Besides its own expectations, every plan is checked against the general invariants in
//! [`check_invariants`] (allowed due times, a consistent reason chain, student first).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Amsterdam;
use rustig::config::Config;
use rustig::model::{ChannelKind, Directory, Event, Role};
use rustig::policy::{plan, Delivered, Facts, Notice, NoticeKind, Plan, Policy, Rule};
use serde_json::{json, Value};

// ---- Building blocks -------------------------------------------------------------------------

/// The policy every case starts from: explicit, so that the cases do not depend on defaults.
/// No classroom gate, no guardian delay and immediate digests, so that each case switches on
/// only the rule it is about.
const BASE: &[(&str, &str)] = &[
    ("quiet_hours.start", r#""20:00""#),
    ("quiet_hours.end", r#""07:00""#),
    ("weekend.from", r#""fri 18:00""#),
    ("weekend.until", r#""mon 07:00""#),
    (
        "holidays.dates",
        r#"["2026-12-19..2027-01-03", "2026-04-27"]"#,
    ),
    ("grades.classroom_first", r#""off""#),
    ("grades.embargo_school_days", "1"),
    ("grades.max_hold", r#""5d""#),
    ("grades.guardian_delay", r#""0s""#),
    ("grades.guardians", r#""all""#),
    ("absences.settle", r#""45m""#),
    (
        "absences.guardians",
        r#"{ unauthorized = "immediate", late = "digest", sick = "none", forgot_materials = "none" }"#,
    ),
    ("digest.students", r#""immediate""#),
    ("digest.guardians", r#""immediate""#),
    ("consent.student_controls", r#""from_16""#),
    ("consent.adult_needs_consent", "true"),
];

/// The TOML text for `BASE` with `overrides` (`table.key`, raw TOML value; `""` removes the key).
fn config_text(overrides: &[(&str, &str)]) -> String {
    let mut tables: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (path, value) in BASE.iter().chain(overrides) {
        let (table, key) = path.rsplit_once('.').expect("table.key");
        let t = tables.entry(table).or_default();
        if value.is_empty() {
            t.remove(key);
        } else {
            t.insert(key, value);
        }
    }
    let mut text = String::from("timezone = \"Europe/Amsterdam\"\n");
    for (table, keys) in tables {
        text.push_str(&format!("\n[{table}]\n"));
        for (k, v) in keys {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    text
}

fn policy(overrides: &[(&str, &str)]) -> Policy {
    let text = config_text(overrides);
    let config = Config::parse(Path::new("t.toml"), &text)
        .unwrap_or_else(|e| panic!("config does not parse: {e}\n{text}"));
    config.policy("school").expect("the global policy").clone()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).to_rfc3339()
}

/// Student s-1 (born 2013-09-02, so 13 in 2026, class 3c) with one email contact and two
/// guardians: g-1 (email) and g-2 (email and ntfy).
fn student() -> Value {
    json!({
        "id": "s-1", "school": "school", "name": "Merel de Jong", "birth_date": "2013-09-02",
        "class": "3c", "contacts": [{"email": "merel@leerling.example"}],
        "guardians": [
            {"id": "g-1", "name": "Anna de Jong", "contacts": [{"email": "anna@example.nl"}]},
            {"id": "g-2", "name": "Peter Jansen",
             "contacts": [{"email": "peter@example.com"}, {"ntfy": "https://ntfy.example/p"}]}
        ]
    })
}

/// A directory with `s`; the timetable has wiskunde for 3c on Monday and Thursday.
fn directory(s: Value) -> Directory {
    let data = json!({
        "students": [s],
        "timetable": [{"school": "school", "class": "3c", "subject": "wiskunde",
                       "lessons": ["mon 10:15-11:05", "thu 08:30-09:20"]}]
    });
    Directory::parse(data.to_string().as_bytes()).expect("directory parses")
}

fn event(v: Value) -> Event {
    Event::parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("event: {e}\n{v}"))
}

/// A grade for record r-1 of assessment a-1 ("Toets H3") for s-1 in 3c.
fn grade(id: &str, occurred: &str, kind: &str, subject: &str) -> Event {
    event(json!({
        "id": id, "type": "grade.entered", "school": "school", "occurred_at": occurred,
        "record": "r-1", "student": "s-1",
        "grade": {"assessment": "a-1", "subject": subject, "class": "3c",
                  "description": "Toets H3", "value": "5,4", "kind": kind}
    }))
}

fn test_grade(occurred: &str) -> Event {
    grade("evt-1", occurred, "test", "wiskunde")
}

fn absence(id: &str, occurred: &str, kind: &str) -> Event {
    event(json!({
        "id": id, "type": "absence.registered", "school": "school", "occurred_at": occurred,
        "record": "abs-1", "student": "s-1",
        "absence": {"kind": kind, "start": occurred, "period": 1}
    }))
}

fn withdrawn(kind: &str, id: &str, occurred: &str, record: &str) -> Event {
    event(json!({
        "id": id, "type": kind, "school": "school", "occurred_at": occurred,
        "record": record, "student": "s-1"
    }))
}

fn delivered(recipient: &str, channel: ChannelKind, event_id: &str, sent_at: &str) -> Delivered {
    Delivered {
        recipient: recipient.into(),
        channel,
        event_id: event_id.into(),
        sent_at: at(sent_at),
    }
}

/// Plans `ev` at `now` and checks the general invariants.
fn plan_at(
    ev: &Event,
    released_at: Option<&str>,
    done: &[Delivered],
    dir: &Directory,
    p: &Policy,
    now: DateTime<Utc>,
) -> Plan {
    let facts = Facts {
        released_at: released_at.map(at),
        delivered: done,
    };
    let out = plan(ev, &facts, dir, p, now);
    check_invariants(ev, &out, p, now);
    out
}

/// Plans `ev` at the moment it occurred, with no facts.
fn plan_fresh(ev: &Event, dir: &Directory, p: &Policy) -> Plan {
    plan_at(ev, None, &[], dir, p, ev.occurred_utc())
}

/// What holds for every plan, whatever the rule under test.
fn check_invariants(ev: &Event, plan: &Plan, p: &Policy, now: DateTime<Utc>) {
    for n in &plan.notices {
        let who = format!("{} {} {:?}", n.recipient, n.channel.as_str(), n.kind);
        assert!(
            p.calendar.is_allowed(n.due_at),
            "{who}: due {} is inside quiet hours, weekend or a holiday",
            local(n.due_at)
        );
        assert!(n.due_at >= ev.occurred_utc(), "{who}: due before the event");
        assert!(n.due_at >= now, "{who}: due before now");
        assert_chain(n);
    }
    // Student first: no guardian grade notice before the student's plus the delay.
    if let Some(student_due) = plan
        .notices
        .iter()
        .find(|n| n.role == Role::Student && n.kind != NoticeKind::Withdrawal)
        .map(|n| n.due_at)
    {
        for n in plan.notices.iter().filter(|n| {
            n.role == Role::Guardian && matches!(n.kind, NoticeKind::Grade | NoticeKind::Correction)
        }) {
            assert!(
                n.due_at >= student_due + p.grades.guardian_delay,
                "guardian {} due {} before student {} + delay",
                n.recipient,
                local(n.due_at),
                local(student_due)
            );
        }
    }
}

/// The reasons start at the event, each moves time forward from where the previous one left
/// it, and the last one ends at the due time.
fn assert_chain(n: &Notice) {
    let who = format!("{} {}", n.recipient, n.channel.as_str());
    let first = n.reasons.first().expect("at least the entered reason");
    assert_eq!(first.rule, Rule::Entered, "{who}: {:?}", n.reasons);
    assert_eq!(first.from, first.to, "{who}");
    for pair in n.reasons.windows(2) {
        assert_eq!(
            pair[1].from, pair[0].to,
            "{who}: broken chain {:?}",
            n.reasons
        );
        assert!(
            pair[1].to > pair[1].from,
            "{who}: {:?} does not move",
            pair[1]
        );
    }
    assert_eq!(
        n.reasons.last().unwrap().to,
        n.due_at,
        "{who}: {:?}",
        n.reasons
    );
}

fn notices_for<'a>(plan: &'a Plan, recipient: &str) -> Vec<&'a Notice> {
    plan.notices
        .iter()
        .filter(|n| n.recipient == recipient)
        .collect()
}

fn the_notice<'a>(plan: &'a Plan, recipient: &str, channel: ChannelKind) -> &'a Notice {
    let found: Vec<&Notice> = plan
        .notices
        .iter()
        .filter(|n| n.recipient == recipient && n.channel == channel)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{recipient} {}: {:#?}",
        channel.as_str(),
        plan
    );
    found[0]
}

/// The rules that moved a notice, in order, each listed once per run (a rule that moves a
/// notice several times in a row, like report hours skipping days, counts once).
fn rules(n: &Notice) -> Vec<Rule> {
    let mut out: Vec<Rule> = n.reasons.iter().map(|r| r.rule).collect();
    out.dedup();
    out
}

/// (recipient, channel, kind) of every notice, sorted.
fn summary(plan: &Plan) -> Vec<(String, &'static str, NoticeKind)> {
    let mut out: Vec<_> = plan
        .notices
        .iter()
        .map(|n| (n.recipient.clone(), n.channel.as_str(), n.kind))
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

fn suppressed_rules(plan: &Plan, recipient: &str) -> Vec<&'static str> {
    plan.suppressed
        .iter()
        .filter(|s| s.recipient.as_deref() == Some(recipient))
        .map(|s| s.rule)
        .collect()
}

use ChannelKind::{Email, Ntfy};
use Rule::*;

/// One row of a student-due table: after planning `ev` fresh, the student's notice is due
/// `want` (local time), moved by `rules`.
struct Row {
    name: &'static str,
    occurred: &'static str,
    want: &'static str,
    rules: &'static [Rule],
}

fn run_student_rows(overrides: &[(&str, &str)], rows: &[Row]) {
    let p = policy(overrides);
    let dir = directory(student());
    for row in rows {
        let plan = plan_fresh(&test_grade(row.occurred), &dir, &p);
        let n = the_notice(&plan, "s-1", Email);
        assert_eq!(
            local(n.due_at),
            local(at(row.want)),
            "{}: {:?}",
            row.name,
            n.reasons
        );
        assert_eq!(rules(n), row.rules, "{}", row.name);
        // Quiet hours, weekend and holidays hold for every recipient and channel.
        for n in &plan.notices {
            assert_eq!(n.due_at, at(row.want), "{}: {}", row.name, n.recipient);
        }
    }
}

// ---- 1. Quiet hours --------------------------------------------------------------------------

#[test]
fn quiet_hours_spanning_midnight() {
    run_student_rows(
        &[("weekend.enabled", "false"), ("holidays.dates", "[]")],
        &[
            Row {
                name: "allowed hours: unchanged",
                occurred: "2026-11-24T10:00:00+01:00",
                want: "2026-11-24T10:00:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "evening → next morning",
                occurred: "2026-11-24T21:14:00+01:00",
                want: "2026-11-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "just after midnight",
                occurred: "2026-11-25T00:01:00+01:00",
                want: "2026-11-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "early morning → same morning",
                occurred: "2026-11-25T06:59:00+01:00",
                want: "2026-11-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "start is inside",
                occurred: "2026-11-24T20:00:00+01:00",
                want: "2026-11-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "a minute before start is outside",
                occurred: "2026-11-24T19:59:00+01:00",
                want: "2026-11-24T19:59:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "end is outside",
                occurred: "2026-11-25T07:00:00+01:00",
                want: "2026-11-25T07:00:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "Saturday: quiet hours only (weekend off)",
                occurred: "2026-11-21T23:00:00+01:00",
                want: "2026-11-22T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
        ],
    );
}

#[test]
fn quiet_hours_within_one_day() {
    run_student_rows(
        &[
            ("weekend.enabled", "false"),
            ("holidays.dates", "[]"),
            ("quiet_hours.start", r#""12:00""#),
            ("quiet_hours.end", r#""13:30""#),
        ],
        &[
            Row {
                name: "inside",
                occurred: "2026-11-24T12:15:00+01:00",
                want: "2026-11-24T13:30:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "before",
                occurred: "2026-11-24T11:59:00+01:00",
                want: "2026-11-24T11:59:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "at the end",
                occurred: "2026-11-24T13:30:00+01:00",
                want: "2026-11-24T13:30:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "late evening is allowed",
                occurred: "2026-11-24T23:00:00+01:00",
                want: "2026-11-24T23:00:00+01:00",
                rules: &[Entered],
            },
        ],
    );
}

#[test]
fn quiet_hours_end_at_local_time_in_the_dst_weeks() {
    run_student_rows(
        &[("weekend.enabled", "false"), ("holidays.dates", "[]")],
        &[
            // Spring forward, Sunday 29 March 2026: the night is 23 hours long.
            Row {
                name: "spring: Saturday evening",
                occurred: "2026-03-28T22:00:00+01:00",
                want: "2026-03-29T07:00:00+02:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "spring: just before the jump",
                occurred: "2026-03-29T01:59:00+01:00",
                want: "2026-03-29T07:00:00+02:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "spring: just after the jump",
                occurred: "2026-03-29T03:00:00+02:00",
                want: "2026-03-29T07:00:00+02:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "spring: the first summer-time night",
                occurred: "2026-03-29T20:30:00+02:00",
                want: "2026-03-30T07:00:00+02:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "spring: 07:00 summer time is allowed",
                occurred: "2026-03-30T07:00:00+02:00",
                want: "2026-03-30T07:00:00+02:00",
                rules: &[Entered],
            },
            // Fall back, Sunday 25 October 2026: the night is 25 hours long.
            Row {
                name: "autumn: Saturday evening",
                occurred: "2026-10-24T22:00:00+02:00",
                want: "2026-10-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "autumn: first 02:30",
                occurred: "2026-10-25T02:30:00+02:00",
                want: "2026-10-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "autumn: second 02:30",
                occurred: "2026-10-25T02:30:00+01:00",
                want: "2026-10-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "autumn: 06:59 winter time",
                occurred: "2026-10-25T06:59:00+01:00",
                want: "2026-10-25T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
            Row {
                name: "autumn: the first winter-time night",
                occurred: "2026-10-25T20:00:00+01:00",
                want: "2026-10-26T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
        ],
    );
}

#[test]
fn a_quiet_window_ending_inside_the_spring_gap_ends_when_the_gap_does() {
    // 02:30 does not exist on 29 March 2026; the first instant reading later is 03:00 CEST.
    run_student_rows(
        &[
            ("weekend.enabled", "false"),
            ("holidays.dates", "[]"),
            ("quiet_hours.start", r#""01:00""#),
            ("quiet_hours.end", r#""02:30""#),
        ],
        &[Row {
            name: "gap",
            occurred: "2026-03-29T01:30:00+01:00",
            want: "2026-03-29T03:00:00+02:00",
            rules: &[Entered, QuietHours],
        }],
    );
}

// ---- 2. Weekend, holidays and school days ------------------------------------------------------

#[test]
fn weekend_blackout() {
    run_student_rows(
        &[],
        &[
            Row {
                name: "Friday 17:59 is allowed",
                occurred: "2026-11-20T17:59:00+01:00",
                want: "2026-11-20T17:59:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "Friday 18:00 starts the weekend",
                occurred: "2026-11-20T18:00:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "Friday night",
                occurred: "2026-11-20T21:14:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "Saturday noon",
                occurred: "2026-11-21T12:00:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "Sunday 23:59",
                occurred: "2026-11-22T23:59:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "Monday 06:30 is still weekend",
                occurred: "2026-11-23T06:30:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "Monday 07:00",
                occurred: "2026-11-23T07:00:00+01:00",
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "DST spring weekend",
                occurred: "2026-03-28T12:00:00+01:00",
                want: "2026-03-30T07:00:00+02:00",
                rules: &[Entered, Weekend],
            },
            Row {
                name: "DST autumn weekend",
                occurred: "2026-10-24T12:00:00+02:00",
                want: "2026-10-26T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
        ],
    );
}

#[test]
fn holidays_are_whole_local_days() {
    run_student_rows(
        &[],
        &[
            Row {
                name: "last school day before Christmas",
                occurred: "2026-12-18T17:00:00+01:00",
                want: "2026-12-18T17:00:00+01:00",
                rules: &[Entered],
            },
            Row {
                name: "Friday evening into the Christmas holiday",
                occurred: "2026-12-18T19:00:00+01:00",
                want: "2027-01-04T07:00:00+01:00",
                rules: &[Entered, Weekend, Holiday, Weekend],
            },
            Row {
                name: "midweek in the holiday",
                occurred: "2026-12-23T12:00:00+01:00",
                want: "2027-01-04T07:00:00+01:00",
                rules: &[Entered, Holiday, Weekend],
            },
            Row {
                name: "last holiday day (a Sunday)",
                occurred: "2027-01-03T12:00:00+01:00",
                want: "2027-01-04T07:00:00+01:00",
                rules: &[Entered, Holiday, Weekend],
            },
            Row {
                name: "a one-day holiday on a Monday",
                occurred: "2026-04-27T10:00:00+02:00",
                want: "2026-04-28T07:00:00+02:00",
                rules: &[Entered, Holiday, QuietHours],
            },
        ],
    );
}

#[test]
fn weekend_can_be_switched_off_or_moved() {
    run_student_rows(
        &[("weekend.enabled", "false")],
        &[Row {
            name: "Saturday noon without a weekend blackout",
            occurred: "2026-11-21T12:00:00+01:00",
            want: "2026-11-21T12:00:00+01:00",
            rules: &[Entered],
        }],
    );
    run_student_rows(
        &[
            ("weekend.from", r#""sat 00:00""#),
            ("weekend.until", r#""mon 00:00""#),
        ],
        &[Row {
            name: "Friday night: quiet, weekend, quiet",
            occurred: "2026-11-20T21:00:00+01:00",
            want: "2026-11-23T07:00:00+01:00",
            rules: &[Entered, QuietHours, Weekend, QuietHours],
        }],
    );
}

#[test]
fn school_days_are_weekdays_that_are_not_holidays() {
    // Counted by the embargo gate; the weekend blackout's own bounds do not matter.
    let embargo = |days: &'static str| {
        vec![
            ("grades.classroom_first", r#""embargo""#),
            ("grades.embargo_school_days", days),
            ("grades.max_hold", r#""30d""#),
        ]
    };
    run_student_rows(
        &embargo("1"),
        &[
            Row {
                name: "Friday → Monday",
                occurred: "2026-11-20T10:00:00+01:00",
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
            Row {
                name: "Saturday → Monday",
                occurred: "2026-11-21T10:00:00+01:00",
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
            Row {
                name: "over the Christmas holiday",
                occurred: "2026-12-18T10:00:00+01:00",
                want: "2027-01-04T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
            Row {
                name: "entered in the holiday",
                occurred: "2026-12-23T10:00:00+01:00",
                want: "2027-01-04T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
            Row {
                name: "over a one-day holiday",
                occurred: "2026-04-24T10:00:00+02:00",
                want: "2026-04-28T10:00:00+02:00",
                rules: &[Entered, Embargo],
            },
        ],
    );
    run_student_rows(
        &embargo("2"),
        &[Row {
            name: "Thursday + 2 → Monday",
            occurred: "2026-11-19T10:00:00+01:00",
            want: "2026-11-23T10:00:00+01:00",
            rules: &[Entered, Embargo],
        }],
    );
    let mut early_weekend = embargo("1");
    early_weekend.push(("weekend.from", r#""fri 12:00""#));
    run_student_rows(
        &early_weekend,
        &[Row {
            name: "Friday is a school day even inside the weekend blackout",
            occurred: "2026-11-19T13:00:00+01:00",
            want: "2026-11-23T07:00:00+01:00",
            rules: &[Entered, Embargo, Weekend],
        }],
    );
}

// ---- 3. Classroom-first -------------------------------------------------------------------------

/// One row of a gate table: a grade of `kind` in `subject`, maybe released at `released`.
struct GateRow {
    name: &'static str,
    overrides: &'static [(&'static str, &'static str)],
    occurred: &'static str,
    kind: &'static str,
    subject: &'static str,
    released: Option<&'static str>,
    want: &'static str,
    rules: &'static [Rule],
}

fn run_gate_rows(common: &[(&str, &str)], rows: &[GateRow]) {
    let dir = directory(student());
    for row in rows {
        let overrides: Vec<(&str, &str)> = common.iter().chain(row.overrides).copied().collect();
        let p = policy(&overrides);
        let ev = grade("evt-1", row.occurred, row.kind, row.subject);
        let plan = plan_at(&ev, row.released, &[], &dir, &p, ev.occurred_utc());
        let n = the_notice(&plan, "s-1", Email);
        assert_eq!(
            local(n.due_at),
            local(at(row.want)),
            "{}: {:?}",
            row.name,
            n.reasons
        );
        assert_eq!(rules(n), row.rules, "{}: {:?}", row.name, n.reasons);
        let gate_end = n
            .reasons
            .iter()
            .filter(|r| matches!(r.rule, ClassroomRelease | NextLesson | Embargo | MaxHold))
            .map(|r| r.to)
            .max();
        if let Some(end) = gate_end {
            assert!(
                end <= ev.occurred_utc() + p.grades.max_hold,
                "{}: the gate held longer than max_hold: {:?}",
                row.name,
                n.reasons
            );
        }
    }
}

#[test]
fn classroom_first_release() {
    run_gate_rows(
        &[("grades.classroom_first", r#""release""#)],
        &[
            GateRow {
                name: "released before the grade: no wait",
                overrides: &[],
                occurred: "2026-11-23T14:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-23T11:05:00+01:00"),
                want: "2026-11-23T14:00:00+01:00",
                rules: &[Entered],
            },
            GateRow {
                name: "released after the grade",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-23T11:05:00+01:00"),
                want: "2026-11-23T11:05:00+01:00",
                rules: &[Entered, ClassroomRelease],
            },
            GateRow {
                name: "released in the evening: then quiet hours",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-23T21:00:00+01:00"),
                want: "2026-11-24T07:00:00+01:00",
                rules: &[Entered, ClassroomRelease, QuietHours],
            },
            GateRow {
                name: "not released: max_hold, then the weekend",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-30T07:00:00+01:00",
                rules: &[Entered, MaxHold, Weekend],
            },
            GateRow {
                name: "released after max_hold: max_hold wins",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-30T10:00:00+01:00"),
                want: "2026-11-30T07:00:00+01:00",
                rules: &[Entered, MaxHold, Weekend],
            },
            GateRow {
                name: "a shorter max_hold",
                overrides: &[("grades.max_hold", r#""2d""#)],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-25T10:00:00+01:00",
                rules: &[Entered, MaxHold],
            },
            GateRow {
                name: "report grades follow the same gate",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: Some("2026-11-23T11:05:00+01:00"),
                want: "2026-11-23T11:05:00+01:00",
                rules: &[Entered, ClassroomRelease],
            },
        ],
    );
}

#[test]
fn a_grade_waiting_for_its_release_carries_the_release_key() {
    let p = policy(&[("grades.classroom_first", r#""release""#)]);
    let dir = directory(student());
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let waiting = plan_fresh(&ev, &dir, &p);
    assert!(!waiting.notices.is_empty());
    for n in &waiting.notices {
        assert_eq!(n.release_key, ev.release_key(), "{}", n.recipient);
    }
    let released = plan_at(
        &ev,
        Some("2026-11-23T11:05:00+01:00"),
        &[],
        &dir,
        &p,
        ev.occurred_utc(),
    );
    for n in &released.notices {
        assert_eq!(n.release_key, None, "{}", n.recipient);
    }
}

#[test]
fn classroom_first_next_lesson() {
    run_gate_rows(
        &[("grades.classroom_first", r#""next_lesson""#)],
        &[
            GateRow {
                name: "Friday night → end of Monday's lesson",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T11:05:00+01:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "Monday before the lesson",
                overrides: &[],
                occurred: "2026-11-23T09:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T11:05:00+01:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "during Monday's lesson → Thursday's",
                overrides: &[],
                occurred: "2026-11-23T10:30:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-26T09:20:00+01:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "DST spring: the lesson is at 11:05 local",
                overrides: &[],
                occurred: "2026-03-27T12:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-03-30T11:05:00+02:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "DST autumn: the lesson is at 11:05 local",
                overrides: &[],
                occurred: "2026-10-23T12:00:00+02:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-10-26T11:05:00+01:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "no lessons in the holiday (long max_hold)",
                overrides: &[("grades.max_hold", r#""20d""#)],
                occurred: "2026-12-18T12:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2027-01-04T11:05:00+01:00",
                rules: &[Entered, NextLesson],
            },
            GateRow {
                name: "no lesson within max_hold",
                overrides: &[],
                occurred: "2026-12-18T12:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2027-01-04T07:00:00+01:00",
                rules: &[Entered, MaxHold, Holiday, Weekend],
            },
            GateRow {
                // Wednesday 08:45 + 1d = Thursday 08:45, inside Thursday's 08:30-09:20 lesson:
                // the lesson ends after max_hold, so max_hold wins.
                name: "a lesson ending after max_hold does not extend the hold",
                overrides: &[("grades.max_hold", r#""1d""#)],
                occurred: "2026-11-25T08:45:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-26T08:45:00+01:00",
                rules: &[Entered, MaxHold],
            },
            GateRow {
                name: "no timetable for the subject: falls back to embargo",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "test",
                subject: "engels",
                released: None,
                want: "2026-11-24T07:00:00+01:00",
                rules: &[Entered, Embargo, QuietHours],
            },
            GateRow {
                name: "report grades follow the same gate",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T11:05:00+01:00",
                rules: &[Entered, NextLesson],
            },
        ],
    );
}

#[test]
fn classroom_first_embargo_and_off() {
    run_gate_rows(
        &[("grades.classroom_first", r#""embargo""#)],
        &[
            GateRow {
                name: "one school day, then quiet hours",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-24T07:00:00+01:00",
                rules: &[Entered, Embargo, QuietHours],
            },
            GateRow {
                name: "zero school days: no wait",
                overrides: &[("grades.embargo_school_days", "0")],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered],
            },
            GateRow {
                name: "capped by max_hold",
                overrides: &[("grades.embargo_school_days", "5")],
                occurred: "2026-11-20T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-25T10:00:00+01:00",
                rules: &[Entered, MaxHold],
            },
            GateRow {
                name: "DST spring: same local time",
                overrides: &[],
                occurred: "2026-03-27T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-03-30T10:00:00+02:00",
                rules: &[Entered, Embargo],
            },
            GateRow {
                name: "a release does not matter to the embargo",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-23T10:30:00+01:00"),
                want: "2026-11-24T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
            GateRow {
                name: "report grades follow the same gate",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-24T10:00:00+01:00",
                rules: &[Entered, Embargo],
            },
        ],
    );
    run_gate_rows(
        &[("grades.classroom_first", r#""off""#)],
        &[
            GateRow {
                name: "off: no gate",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered],
            },
            GateRow {
                name: "off: a release in the future is ignored",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: Some("2026-11-24T10:00:00+01:00"),
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered],
            },
            GateRow {
                name: "off: only the blackouts",
                overrides: &[],
                occurred: "2026-11-20T21:14:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T07:00:00+01:00",
                rules: &[Entered, Weekend],
            },
        ],
    );
}

#[test]
fn report_grades_reach_students_inside_report_hours_on_a_school_day() {
    let hours = ("grades.report_hours", r#""09:00-16:00""#);
    run_gate_rows(
        &[hours],
        &[
            GateRow {
                name: "inside the window",
                overrides: &[],
                occurred: "2026-11-23T10:00:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T10:00:00+01:00",
                rules: &[Entered],
            },
            GateRow {
                name: "early morning: never before school starts",
                overrides: &[],
                occurred: "2026-11-23T06:00:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T09:00:00+01:00",
                rules: &[Entered, ReportHours],
            },
            GateRow {
                name: "at the window's end → next school day",
                overrides: &[],
                occurred: "2026-11-23T16:00:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-24T09:00:00+01:00",
                rules: &[Entered, ReportHours],
            },
            GateRow {
                name: "Friday afternoon → Monday morning",
                overrides: &[],
                occurred: "2026-11-20T17:00:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-11-23T09:00:00+01:00",
                rules: &[Entered, ReportHours],
            },
            GateRow {
                name: "over the Christmas holiday",
                overrides: &[],
                occurred: "2026-12-18T16:30:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2027-01-04T09:00:00+01:00",
                rules: &[Entered, ReportHours],
            },
            GateRow {
                name: "DST spring",
                overrides: &[],
                occurred: "2026-03-27T16:30:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: None,
                want: "2026-03-30T09:00:00+02:00",
                rules: &[Entered, ReportHours],
            },
            GateRow {
                name: "after the gate: released before school",
                overrides: &[("grades.classroom_first", r#""release""#)],
                occurred: "2026-11-23T07:30:00+01:00",
                kind: "report",
                subject: "wiskunde",
                released: Some("2026-11-23T08:15:00+01:00"),
                want: "2026-11-23T09:00:00+01:00",
                rules: &[Entered, ClassroomRelease, ReportHours],
            },
            GateRow {
                name: "other grade kinds ignore the window",
                overrides: &[],
                occurred: "2026-11-24T06:00:00+01:00",
                kind: "test",
                subject: "wiskunde",
                released: None,
                want: "2026-11-24T07:00:00+01:00",
                rules: &[Entered, QuietHours],
            },
        ],
    );
}

#[test]
fn report_hours_hold_when_quiet_hours_cut_into_the_window() {
    // Quiet from 15:00 to 08:00: a report at 15:30 is inside the window but quiet; the next
    // allowed instant (08:00) is before the window opens, so it must wait until 09:00.
    let p = policy(&[
        ("grades.report_hours", r#""09:00-16:00""#),
        ("quiet_hours.start", r#""15:00""#),
        ("quiet_hours.end", r#""08:00""#),
    ]);
    let dir = directory(student());
    let ev = grade("evt-1", "2026-11-23T15:30:00+01:00", "report", "wiskunde");
    let plan = plan_fresh(&ev, &dir, &p);
    let n = the_notice(&plan, "s-1", Email);
    assert_eq!(
        local(n.due_at),
        local(at("2026-11-24T09:00:00+01:00")),
        "{:?}",
        n.reasons
    );
}

#[test]
fn report_hours_hold_when_the_grade_is_planned_late() {
    // Entered at 10:00 but only planned at 17:00 (a slow SIS poller): the student must still
    // get the report inside the window, not at 17:00 at home.
    let p = policy(&[("grades.report_hours", r#""09:00-16:00""#)]);
    let dir = directory(student());
    let ev = grade("evt-1", "2026-11-23T10:00:00+01:00", "report", "wiskunde");
    let plan = plan_at(&ev, None, &[], &dir, &p, at("2026-11-23T17:00:00+01:00"));
    let n = the_notice(&plan, "s-1", Email);
    assert_eq!(
        local(n.due_at),
        local(at("2026-11-24T09:00:00+01:00")),
        "{:?}",
        n.reasons
    );
}

#[test]
fn report_hours_that_are_always_quiet_suppress_instead_of_hanging() {
    // Quiet 08:00-17:00 covers the whole 09:00-16:00 window: `rustig check` refuses it ...
    let text = config_text(&[
        ("grades.report_hours", r#""09:00-16:00""#),
        ("quiet_hours.start", r#""08:00""#),
        ("quiet_hours.end", r#""17:00""#),
    ]);
    let err = Config::parse(Path::new("t.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("grades.report_hours"), "{err}");
    // ... and a policy built past that check still terminates and says why nothing goes out.
    let mut p = policy(&[
        ("grades.report_hours", r#""off""#),
        ("quiet_hours.start", r#""08:00""#),
        ("quiet_hours.end", r#""17:00""#),
    ]);
    p.grades.report_hours = Some("09:00-16:00".parse().unwrap());
    let dir = directory(student());
    let ev = grade("evt-1", "2026-11-23T10:00:00+01:00", "report", "wiskunde");
    let out = plan_fresh(&ev, &dir, &p);
    assert!(out.notices.is_empty(), "{out:#?}");
    assert_eq!(suppressed_rules(&out, "s-1"), ["undeliverable"]);
    // Other grades are unaffected.
    let out = plan_fresh(&test_grade("2026-11-23T10:00:00+01:00"), &dir, &p);
    assert_eq!(
        the_notice(&out, "s-1", Email).due_at,
        at("2026-11-23T17:00:00+01:00")
    );
}

// ---- 4. Student first, guardians after ----------------------------------------------------------

#[test]
fn guardians_wait_for_the_student_plus_the_delay() {
    struct R {
        name: &'static str,
        overrides: &'static [(&'static str, &'static str)],
        occurred: &'static str,
        released: Option<&'static str>,
        student: &'static str,
        guardian: &'static str,
        rules: &'static [Rule],
    }
    let rows = [
        R {
            name: "24h later",
            overrides: &[("grades.guardian_delay", r#""24h""#)],
            occurred: "2026-11-23T10:00:00+01:00",
            released: None,
            student: "2026-11-23T10:00:00+01:00",
            guardian: "2026-11-24T10:00:00+01:00",
            rules: &[Entered, GuardianDelay],
        },
        R {
            name: "delay into the weekend, then every other rule",
            overrides: &[("grades.guardian_delay", r#""24h""#)],
            occurred: "2026-11-20T11:00:00+01:00",
            released: None,
            student: "2026-11-20T11:00:00+01:00",
            guardian: "2026-11-23T07:00:00+01:00",
            rules: &[Entered, GuardianDelay, Weekend],
        },
        R {
            name: "the issue's example: release, delay, digest slot",
            overrides: &[
                ("grades.classroom_first", r#""release""#),
                ("grades.guardian_delay", r#""24h""#),
                ("digest.guardians", r#""0 17 * * mon-fri""#),
            ],
            occurred: "2026-11-20T21:14:00+01:00",
            released: Some("2026-11-23T11:05:00+01:00"),
            student: "2026-11-23T11:05:00+01:00",
            guardian: "2026-11-24T17:00:00+01:00",
            rules: &[Entered, ClassroomRelease, GuardianDelay, DigestSlot],
        },
        R {
            name: "no delay: together",
            overrides: &[],
            occurred: "2026-11-23T10:00:00+01:00",
            released: None,
            student: "2026-11-23T10:00:00+01:00",
            guardian: "2026-11-23T10:00:00+01:00",
            rules: &[Entered],
        },
        R {
            name: "the student's quiet hours move the guardians too",
            overrides: &[("grades.guardian_delay", r#""2h""#)],
            occurred: "2026-11-23T21:00:00+01:00",
            released: None,
            student: "2026-11-24T07:00:00+01:00",
            guardian: "2026-11-24T09:00:00+01:00",
            rules: &[Entered, QuietHours, GuardianDelay],
        },
        R {
            // The delay is elapsed time: 24 real hours, so 13:00 local after spring forward.
            name: "delay across the spring DST change",
            overrides: &[
                ("grades.guardian_delay", r#""24h""#),
                ("weekend.enabled", "false"),
            ],
            occurred: "2026-03-28T12:00:00+01:00",
            released: None,
            student: "2026-03-28T12:00:00+01:00",
            guardian: "2026-03-29T13:00:00+02:00",
            rules: &[Entered, GuardianDelay],
        },
    ];
    let dir = directory(student());
    for r in rows {
        let p = policy(r.overrides);
        let ev = test_grade(r.occurred);
        let plan = plan_at(&ev, r.released, &[], &dir, &p, ev.occurred_utc());
        let s = the_notice(&plan, "s-1", Email);
        assert_eq!(local(s.due_at), local(at(r.student)), "{}", r.name);
        for (g, c) in [("g-1", Email), ("g-2", Email), ("g-2", Ntfy)] {
            let n = the_notice(&plan, g, c);
            assert_eq!(
                local(n.due_at),
                local(at(r.guardian)),
                "{} {g}: {:?}",
                r.name,
                n.reasons
            );
            assert_eq!(rules(n), r.rules, "{} {g}", r.name);
            assert_eq!(n.kind, NoticeKind::Grade);
        }
    }
}

#[test]
fn a_student_without_contact_still_goes_first() {
    let p = policy(&[
        ("grades.classroom_first", r#""release""#),
        ("grades.guardian_delay", r#""24h""#),
        ("digest.guardians", r#""0 17 * * mon-fri""#),
    ]);
    let mut s = student();
    s["contacts"] = json!([]);
    let dir = directory(s);
    let with_contact = directory(student());
    for (occurred, released) in [
        (
            "2026-11-20T21:14:00+01:00",
            Some("2026-11-23T11:05:00+01:00"),
        ),
        ("2026-11-23T10:00:00+01:00", None),
        ("2026-12-17T10:00:00+01:00", None),
    ] {
        let ev = test_grade(occurred);
        let plan = plan_at(&ev, released, &[], &dir, &p, ev.occurred_utc());
        assert!(notices_for(&plan, "s-1").is_empty(), "{plan:#?}");
        assert_eq!(suppressed_rules(&plan, "s-1"), ["no_contact"]);
        // The notional due time of the student is what it would be with a contact.
        let reference = plan_at(&ev, released, &[], &with_contact, &p, ev.occurred_utc());
        let notional = the_notice(&reference, "s-1", Email).due_at;
        for (g, c) in [("g-1", Email), ("g-2", Email), ("g-2", Ntfy)] {
            let n = the_notice(&plan, g, c);
            assert!(
                n.due_at >= notional + p.grades.guardian_delay,
                "{occurred} {g}: {} before the student's notional {} + delay",
                local(n.due_at),
                local(notional)
            );
            assert_eq!(
                n.due_at,
                the_notice(&reference, g, c).due_at,
                "{occurred} {g}"
            );
            assert_eq!(
                n.reasons,
                the_notice(&reference, g, c).reasons,
                "{occurred} {g}"
            );
        }
    }
    // The issue's example, without a student contact: Tue 24 Nov 17:00.
    let ev = test_grade("2026-11-20T21:14:00+01:00");
    let plan = plan_at(
        &ev,
        Some("2026-11-23T11:05:00+01:00"),
        &[],
        &dir,
        &p,
        ev.occurred_utc(),
    );
    assert_eq!(
        the_notice(&plan, "g-1", Email).due_at,
        at("2026-11-24T17:00:00+01:00")
    );
}

#[test]
fn a_student_without_contact_planned_late_keeps_a_consistent_chain() {
    // Planned two days after the grade was entered (after the student's notional due time):
    // guardians still wait for the delay, and their reasons still form one chain.
    let p = policy(&[("grades.guardian_delay", r#""24h""#)]);
    let mut s = student();
    s["contacts"] = json!([]);
    let dir = directory(s);
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let now = at("2026-11-25T12:00:00+01:00");
    let plan = plan_at(&ev, None, &[], &dir, &p, now);
    let n = the_notice(&plan, "g-1", Email);
    assert!(n.due_at >= at("2026-11-24T10:00:00+01:00"));
    assert_eq!(n.due_at, now);
}

#[test]
fn guardians_are_anchored_to_the_students_actual_delivery() {
    // The student's notice went out at 11:20 (a retry); guardians count from then.
    let p = policy(&[
        ("grades.classroom_first", r#""release""#),
        ("grades.guardian_delay", r#""24h""#),
    ]);
    let dir = directory(student());
    let ev = test_grade("2026-11-20T21:14:00+01:00");
    let done = [delivered(
        "s-1",
        Email,
        "evt-1",
        "2026-11-23T11:20:00+01:00",
    )];
    let now = at("2026-11-23T11:30:00+01:00");
    let plan = plan_at(&ev, Some("2026-11-23T11:05:00+01:00"), &done, &dir, &p, now);
    assert!(notices_for(&plan, "s-1").is_empty(), "already delivered");
    for (g, c) in [("g-1", Email), ("g-2", Email), ("g-2", Ntfy)] {
        let n = the_notice(&plan, g, c);
        assert_eq!(
            local(n.due_at),
            local(at("2026-11-24T11:20:00+01:00")),
            "{g}"
        );
    }
}

#[test]
fn planning_late_moves_the_student_and_the_guardians_after_now() {
    let p = policy(&[("grades.guardian_delay", r#""24h""#)]);
    let dir = directory(student());
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let now = at("2026-11-24T09:00:00+01:00");
    let plan = plan_at(&ev, None, &[], &dir, &p, now);
    let s = the_notice(&plan, "s-1", Email);
    assert_eq!(s.due_at, now);
    assert_eq!(rules(s), [Entered, Late]);
    assert_eq!(
        the_notice(&plan, "g-1", Email).due_at,
        at("2026-11-25T09:00:00+01:00")
    );
    // Planned late into quiet hours: the next morning.
    let plan = plan_at(&ev, None, &[], &dir, &p, at("2026-11-23T22:00:00+01:00"));
    let s = the_notice(&plan, "s-1", Email);
    assert_eq!(s.due_at, at("2026-11-24T07:00:00+01:00"));
    assert_eq!(rules(s), [Entered, Late, QuietHours]);
}

#[test]
fn planning_a_little_after_the_event_does_not_call_it_late() {
    // Entered at 21:14 and planned at 21:15: due 07:00 either way, and the reasons must not
    // depend on when (before 07:00) the plan was made.
    let p = policy(&[]);
    let dir = directory(student());
    let ev = test_grade("2026-11-24T21:14:00+01:00");
    let first = plan_at(&ev, None, &[], &dir, &p, ev.occurred_utc());
    for now in [
        "2026-11-24T21:15:00+01:00",
        "2026-11-25T03:00:00+01:00",
        "2026-11-25T07:00:00+01:00",
    ] {
        let again = plan_at(&ev, None, &[], &dir, &p, at(now));
        assert_eq!(again, first, "re-planned at {now}");
    }
}

// ---- 5. Which guardians see what ----------------------------------------------------------------

#[test]
fn grades_guardians_all_report_only_none() {
    let dir = directory(student());
    for (mode, kind, guardians_get) in [
        ("all", "test", true),
        ("all", "report", true),
        ("all", "exam", true),
        ("report_only", "test", false),
        ("report_only", "average", false),
        ("report_only", "report", true),
        ("none", "test", false),
        ("none", "report", false),
    ] {
        let value = format!("\"{mode}\"");
        let p = policy(&[("grades.guardians", value.as_str())]);
        let ev = grade("evt-1", "2026-11-23T10:00:00+01:00", kind, "wiskunde");
        let plan = plan_fresh(&ev, &dir, &p);
        let name = format!("{mode}/{kind}");
        assert_eq!(
            notices_for(&plan, "s-1").len(),
            1,
            "{name}: the student always"
        );
        if guardians_get {
            assert_eq!(notices_for(&plan, "g-1").len(), 1, "{name}");
            assert_eq!(notices_for(&plan, "g-2").len(), 2, "{name}");
        } else {
            assert!(notices_for(&plan, "g-1").is_empty(), "{name}");
            assert!(notices_for(&plan, "g-2").is_empty(), "{name}");
            for g in ["g-1", "g-2"] {
                assert_eq!(suppressed_rules(&plan, g), ["grades.guardians"], "{name}");
            }
        }
    }
}

#[test]
fn absences_guardians_per_kind() {
    // BASE: unauthorized immediate, late digest, sick none, forgot_materials none; unlisted
    // kinds: removed immediate, authorized and homework_missing none.
    let p = policy(&[("digest.guardians", r#""0 17 * * mon-fri""#)]);
    let dir = directory(student());
    let occurred = "2026-11-23T08:40:00+01:00";
    for (kind, want) in [
        ("unauthorized", Some("2026-11-23T09:25:00+01:00")),
        ("removed", Some("2026-11-23T09:25:00+01:00")),
        ("late", Some("2026-11-23T17:00:00+01:00")),
        ("sick", None),
        ("forgot_materials", None),
        ("authorized", None),
        ("homework_missing", None),
    ] {
        let plan = plan_fresh(&absence("evt-a", occurred, kind), &dir, &p);
        assert!(
            notices_for(&plan, "s-1").is_empty(),
            "{kind}: absences go to guardians only"
        );
        match want {
            Some(due) => {
                assert_eq!(
                    summary(&plan),
                    [
                        ("g-1".to_string(), "email", NoticeKind::Absence),
                        ("g-2".to_string(), "email", NoticeKind::Absence),
                        ("g-2".to_string(), "ntfy", NoticeKind::Absence),
                    ],
                    "{kind}"
                );
                for n in &plan.notices {
                    assert_eq!(local(n.due_at), local(at(due)), "{kind}: {:?}", n.reasons);
                }
            }
            None => {
                assert!(plan.notices.is_empty(), "{kind}: {plan:#?}");
                for g in ["g-1", "g-2"] {
                    assert_eq!(suppressed_rules(&plan, g), ["absences.guardians"], "{kind}");
                }
            }
        }
    }
    // A school may send sick notes right away.
    let p = policy(&[(
        "absences.guardians",
        r#"{ sick = "immediate", unauthorized = "digest" }"#,
    )]);
    let plan = plan_fresh(&absence("evt-a", occurred, "sick"), &dir, &p);
    assert_eq!(
        the_notice(&plan, "g-1", Email).due_at,
        at("2026-11-23T09:25:00+01:00")
    );
    let plan = plan_fresh(&absence("evt-a", occurred, "unauthorized"), &dir, &p);
    assert_eq!(rules(the_notice(&plan, "g-1", Email)), [Entered, Settle]);
}

// ---- 6. Consent ---------------------------------------------------------------------------------

#[test]
fn consent_by_age_on_the_event_date() {
    // The event is on Monday 23 November 2026. Birth dates: 2011-11-23 → 15 (birthday);
    // 2010-11-24 → 15 (16 tomorrow); 2010-11-23 → 16 (birthday); 2009-11-23 → 17;
    // 2008-11-24 → 17 (18 tomorrow); 2008-11-23 → 18 (birthday).
    struct R {
        controls: &'static str,
        adult_needs_consent: bool,
        birth: &'static str,
        grades: Option<bool>,
        kind: &'static str,
        guardians_get: bool,
    }
    let r = |controls, adult_needs_consent, birth, grades, kind, guardians_get| R {
        controls,
        adult_needs_consent,
        birth,
        grades,
        kind,
        guardians_get,
    };
    let rows = [
        // never: the student's choice does not count before 18.
        r("never", true, "2010-11-23", Some(false), "test", true),
        r("never", true, "2009-11-23", Some(false), "test", true),
        r("never", true, "2008-11-24", Some(false), "test", true),
        r("never", true, "2008-11-23", None, "test", false),
        r("never", true, "2008-11-23", Some(true), "test", true),
        // from_16
        r("from_16", true, "2011-11-23", Some(false), "test", true),
        r("from_16", true, "2010-11-24", Some(false), "test", true),
        r("from_16", true, "2010-11-23", Some(false), "test", false),
        r("from_16", true, "2010-11-23", None, "test", true),
        r("from_16", true, "2010-11-23", Some(true), "test", true),
        r("from_16", true, "2009-11-23", Some(false), "test", false),
        r("from_16", true, "2009-11-23", None, "test", true),
        r("from_16", true, "2008-11-24", None, "test", true),
        r("from_16", true, "2008-11-23", None, "test", false),
        r("from_16", true, "2008-11-23", Some(false), "test", false),
        r("from_16", true, "2008-11-23", Some(true), "test", true),
        r("from_16", false, "2008-11-23", None, "test", true),
        r("from_16", false, "2008-11-23", Some(false), "test", false),
        // always
        r("always", true, "2011-11-23", Some(false), "test", false),
        r("always", true, "2011-11-23", None, "test", true),
        r("always", true, "2011-11-23", Some(true), "test", true),
        // Report grades reach guardians of minors, whatever the student chose.
        r("always", true, "2011-11-23", Some(false), "report", true),
        r("from_16", true, "2010-11-23", Some(false), "report", true),
        r("from_16", true, "2009-11-23", Some(false), "report", true),
        r("from_16", true, "2008-11-24", Some(false), "report", true),
        // … and at 18 the student decides.
        r("from_16", true, "2008-11-23", Some(false), "report", false),
        r("from_16", true, "2008-11-23", None, "report", false),
        r("from_16", true, "2008-11-23", Some(true), "report", true),
        r("never", true, "2008-11-23", None, "report", false),
        r("from_16", false, "2008-11-23", None, "report", true),
        r("from_16", false, "2008-11-23", Some(false), "report", false),
    ];
    for row in rows {
        let controls = format!("\"{}\"", row.controls);
        let adult = row.adult_needs_consent.to_string();
        let p = policy(&[
            ("consent.student_controls", controls.as_str()),
            ("consent.adult_needs_consent", adult.as_str()),
        ]);
        let mut s = student();
        s["birth_date"] = row.birth.into();
        if let Some(g) = row.grades {
            s["guardian_access"] = json!({ "grades": g });
        }
        let dir = directory(s);
        let ev = grade("evt-1", "2026-11-23T10:00:00+01:00", row.kind, "wiskunde");
        let plan = plan_fresh(&ev, &dir, &p);
        let name = format!(
            "{} adult_needs_consent={} born {} grades={:?} {}",
            row.controls, row.adult_needs_consent, row.birth, row.grades, row.kind
        );
        assert_eq!(notices_for(&plan, "s-1").len(), 1, "{name}");
        let got = [
            notices_for(&plan, "g-1").len(),
            notices_for(&plan, "g-2").len(),
        ];
        if row.guardians_get {
            assert_eq!(got, [1, 2], "{name}: {:?}", plan.suppressed);
        } else {
            assert_eq!(got, [0, 0], "{name}");
            for g in ["g-1", "g-2"] {
                assert_eq!(suppressed_rules(&plan, g), ["consent"], "{name}");
            }
        }
    }
}

#[test]
fn age_is_taken_on_the_events_local_date_not_at_planning_time() {
    let p = policy(&[("consent.student_controls", r#""from_16""#)]);
    let mut s = student();
    s["birth_date"] = "2010-11-23".into();
    s["guardian_access"] = json!({"grades": false});
    let dir = directory(s);
    // 23:30 on the 22nd in Amsterdam: still 15.
    let ev = test_grade("2026-11-22T23:30:00+01:00");
    let plan = plan_fresh(&ev, &dir, &p);
    assert_eq!(notices_for(&plan, "g-1").len(), 1, "15 on the local date");
    // 23:30 UTC on the 22nd is 00:30 on the 23rd in Amsterdam: 16, and she said no.
    let ev = test_grade("2026-11-22T23:30:00Z");
    let plan = plan_fresh(&ev, &dir, &p);
    assert!(notices_for(&plan, "g-1").is_empty(), "16 on the local date");
    // Entered while 15, planned days after the birthday: the event's date counts.
    let ev = test_grade("2026-11-20T10:00:00+01:00");
    let plan = plan_at(&ev, None, &[], &dir, &p, at("2026-11-25T10:00:00+01:00"));
    assert_eq!(notices_for(&plan, "g-1").len(), 1, "15 on the event's date");
}

#[test]
fn absence_consent_uses_the_absence_choice() {
    let p = policy(&[]);
    let mut s = student();
    s["birth_date"] = "2010-01-01".into();
    let ev = absence("evt-a", "2026-11-23T08:40:00+01:00", "unauthorized");
    for (access, guardians_get) in [
        (json!({"grades": false}), true),
        (json!({"absences": true}), true),
        (json!({"absences": false}), false),
    ] {
        s["guardian_access"] = access.clone();
        let plan = plan_fresh(&ev, &directory(s.clone()), &p);
        assert_eq!(!plan.notices.is_empty(), guardians_get, "{access}");
        if !guardians_get {
            assert_eq!(suppressed_rules(&plan, "g-1"), ["consent"]);
        }
    }
    // At 18 with adult_needs_consent, no absences without a grant.
    s["birth_date"] = "2008-01-01".into();
    s["guardian_access"] = json!({});
    let plan = plan_fresh(&ev, &directory(s.clone()), &p);
    assert!(plan.notices.is_empty());
}

#[test]
fn each_guardian_is_planned_independently() {
    let p = policy(&[("digest.guardians", r#""0 17 * * mon-fri""#)]);
    let mut s = student();
    s["guardians"] = json!([
        {"id": "g-1", "name": "A", "contacts": [{"email": "a@example.nl"}]},
        {"id": "g-2", "name": "B", "contacts": [{"email": "b@example.nl"}, {"ntfy": "https://n/b"},
                                                  {"email": "b2@example.nl"}]},
        {"id": "g-3", "name": "C", "contacts": []},
        {"id": "g-4", "name": "D", "contacts": [{"fcm": "token"}], "digest": "weekly"}
    ]);
    let dir = directory(s);
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let plan = plan_fresh(&ev, &dir, &p);
    assert_eq!(
        summary(&plan),
        [
            ("g-1".to_string(), "email", NoticeKind::Grade),
            ("g-2".to_string(), "email", NoticeKind::Grade),
            ("g-2".to_string(), "ntfy", NoticeKind::Grade),
            ("g-4".to_string(), "fcm", NoticeKind::Grade),
            ("s-1".to_string(), "email", NoticeKind::Grade),
        ]
    );
    assert_eq!(suppressed_rules(&plan, "g-3"), ["no_contact"]);
    assert_eq!(
        the_notice(&plan, "g-1", Email).due_at,
        at("2026-11-23T17:00:00+01:00")
    );
    // g-4's own weekly digest: Friday 17:00.
    let n = the_notice(&plan, "g-4", ChannelKind::Fcm);
    assert_eq!(n.due_at, at("2026-11-27T17:00:00+01:00"));
    assert_eq!(rules(n), [Entered, DigestSlot, PersonalDigest]);
    let mut keys: Vec<&str> = plan.notices.iter().map(|n| n.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), plan.notices.len(), "keys are distinct");
}

// ---- 7. Absence settle window ---------------------------------------------------------------------

#[test]
fn absences_wait_for_the_settle_window() {
    struct R {
        settle: &'static str,
        occurred: &'static str,
        kind: &'static str,
        want: &'static str,
        rules: &'static [Rule],
    }
    let rows = [
        R {
            settle: r#""45m""#,
            occurred: "2026-11-23T08:40:00+01:00",
            kind: "unauthorized",
            want: "2026-11-23T09:25:00+01:00",
            rules: &[Entered, Settle],
        },
        R {
            settle: r#""2h""#,
            occurred: "2026-11-23T08:40:00+01:00",
            kind: "unauthorized",
            want: "2026-11-23T10:40:00+01:00",
            rules: &[Entered, Settle],
        },
        R {
            settle: r#""0s""#,
            occurred: "2026-11-23T08:40:00+01:00",
            kind: "unauthorized",
            want: "2026-11-23T08:40:00+01:00",
            rules: &[Entered],
        },
        R {
            settle: r#""45m""#,
            occurred: "2026-11-23T19:30:00+01:00",
            kind: "unauthorized",
            want: "2026-11-24T07:00:00+01:00",
            rules: &[Entered, Settle, QuietHours],
        },
        R {
            settle: r#""45m""#,
            occurred: "2026-11-20T17:30:00+01:00",
            kind: "removed",
            want: "2026-11-23T07:00:00+01:00",
            rules: &[Entered, Settle, Weekend],
        },
        R {
            settle: r#""45m""#,
            occurred: "2026-11-23T08:40:00+01:00",
            kind: "late",
            want: "2026-11-23T17:00:00+01:00",
            rules: &[Entered, Settle, DigestSlot],
        },
        R {
            settle: r#""45m""#,
            occurred: "2026-12-18T17:30:00+01:00",
            kind: "unauthorized",
            want: "2027-01-04T07:00:00+01:00",
            rules: &[Entered, Settle, Weekend, Holiday, Weekend],
        },
    ];
    let dir = directory(student());
    for r in rows {
        let p = policy(&[
            ("absences.settle", r.settle),
            ("digest.guardians", r#""0 17 * * mon-fri""#),
        ]);
        let ev = absence("evt-a", r.occurred, r.kind);
        let plan = plan_fresh(&ev, &dir, &p);
        let n = the_notice(&plan, "g-1", Email);
        let name = format!("{} {} settle {}", r.kind, r.occurred, r.settle);
        assert_eq!(
            local(n.due_at),
            local(at(r.want)),
            "{name}: {:?}",
            n.reasons
        );
        assert_eq!(rules(n), r.rules, "{name}");
        assert!(n.due_at >= ev.occurred_utc() + p.absences.settle, "{name}");
    }
}

#[test]
fn a_settled_correction_or_withdrawal_of_an_absence_wins() {
    let p = policy(&[]);
    let dir = directory(student());
    // Registered unauthorized at 08:40 (due 09:25), corrected to sick at 09:00: the store
    // replaces the pending notices of record abs-1 with this plan, which has none.
    let first = plan_fresh(
        &absence("evt-a", "2026-11-23T08:40:00+01:00", "unauthorized"),
        &dir,
        &p,
    );
    assert_eq!(first.notices.len(), 3);
    let sick = plan_fresh(
        &absence("evt-b", "2026-11-23T09:00:00+01:00", "sick"),
        &dir,
        &p,
    );
    assert!(sick.notices.is_empty(), "{sick:#?}");
    // Corrected to late instead: the settle window restarts from the correction.
    let late = plan_fresh(
        &absence("evt-b", "2026-11-23T09:00:00+01:00", "unauthorized"),
        &dir,
        &p,
    );
    assert_eq!(
        the_notice(&late, "g-1", Email).due_at,
        at("2026-11-23T09:45:00+01:00")
    );
    // Withdrawn inside the window, nothing delivered yet: nothing at all.
    let gone = plan_fresh(
        &withdrawn(
            "absence.withdrawn",
            "evt-c",
            "2026-11-23T09:10:00+01:00",
            "abs-1",
        ),
        &dir,
        &p,
    );
    assert!(gone.notices.is_empty());
    assert_eq!(gone.suppressed.len(), 1);
    assert_eq!(gone.suppressed[0].rule, "not_delivered");
}

// ---- 8. Corrections and withdrawals ---------------------------------------------------------------

#[test]
fn a_new_version_of_a_delivered_grade_is_a_correction_for_those_who_saw_it() {
    let p = policy(&[("grades.guardian_delay", r#""24h""#)]);
    let dir = directory(student());
    let done = [
        delivered("s-1", Email, "evt-1", "2026-11-23T10:00:00+01:00"),
        delivered("g-1", Email, "evt-1", "2026-11-24T10:00:00+01:00"),
    ];
    let ev = grade("evt-2", "2026-11-24T12:00:00+01:00", "test", "wiskunde");
    let plan = plan_at(&ev, None, &done, &dir, &p, ev.occurred_utc());
    assert_eq!(
        summary(&plan),
        [
            ("g-1".to_string(), "email", NoticeKind::Correction),
            ("g-2".to_string(), "email", NoticeKind::Grade),
            ("g-2".to_string(), "ntfy", NoticeKind::Grade),
            ("s-1".to_string(), "email", NoticeKind::Correction),
        ]
    );
    // Corrections follow the same rules: the student first, the guardian a day later.
    assert_eq!(
        the_notice(&plan, "s-1", Email).due_at,
        at("2026-11-24T12:00:00+01:00")
    );
    assert_eq!(
        the_notice(&plan, "g-1", Email).due_at,
        at("2026-11-25T12:00:00+01:00")
    );
    // … including quiet hours and the weekend.
    let ev = grade("evt-2", "2026-11-20T21:14:00+01:00", "test", "wiskunde");
    let plan = plan_at(&ev, None, &done, &dir, &p, ev.occurred_utc());
    let n = the_notice(&plan, "s-1", Email);
    assert_eq!(n.kind, NoticeKind::Correction);
    assert_eq!(n.due_at, at("2026-11-23T07:00:00+01:00"));
}

#[test]
fn the_same_version_is_never_planned_twice_for_a_channel_that_carried_it() {
    let p = policy(&[]);
    let dir = directory(student());
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let done = [
        delivered("s-1", Email, "evt-1", "2026-11-23T10:00:00+01:00"),
        delivered("g-2", Ntfy, "evt-1", "2026-11-23T10:00:00+01:00"),
    ];
    let plan = plan_at(&ev, None, &done, &dir, &p, at("2026-11-23T10:05:00+01:00"));
    assert_eq!(
        summary(&plan),
        [
            ("g-1".to_string(), "email", NoticeKind::Grade),
            ("g-2".to_string(), "email", NoticeKind::Grade),
        ]
    );
}

#[test]
fn a_guardian_who_saw_the_old_value_hears_of_the_correction_even_without_access_now() {
    // Judgement call documented by this test: a guardian who received the old value is told
    // that it changed, even if the rules would not send them the new grade today (here: the
    // student turned 16 and refused access). Otherwise they would keep a wrong value.
    let p = policy(&[]);
    let mut s = student();
    s["birth_date"] = "2010-11-23".into();
    s["guardian_access"] = json!({"grades": false});
    let dir = directory(s);
    let done = [delivered(
        "g-1",
        Email,
        "evt-1",
        "2026-11-20T10:00:00+01:00",
    )];
    let ev = grade("evt-2", "2026-11-24T10:00:00+01:00", "test", "wiskunde");
    let plan = plan_at(&ev, None, &done, &dir, &p, ev.occurred_utc());
    assert_eq!(the_notice(&plan, "g-1", Email).kind, NoticeKind::Correction);
    assert!(notices_for(&plan, "g-2").is_empty());
    assert_eq!(suppressed_rules(&plan, "g-2"), ["consent"]);
}

#[test]
fn withdrawals_reach_only_those_who_got_the_record() {
    let p = policy(&[("digest.guardians", r#""0 17 * * mon-fri""#)]);
    let dir = directory(student());
    let done = [
        delivered("s-1", Email, "evt-1", "2026-11-20T10:00:00+01:00"),
        delivered("g-2", Ntfy, "evt-1", "2026-11-20T10:00:00+01:00"),
        delivered("g-2", Ntfy, "evt-0", "2026-11-19T10:00:00+01:00"),
    ];
    let ev = withdrawn(
        "grade.withdrawn",
        "evt-9",
        "2026-11-20T21:00:00+01:00",
        "r-1",
    );
    let plan = plan_at(&ev, None, &done, &dir, &p, ev.occurred_utc());
    assert_eq!(
        summary(&plan),
        [
            ("g-2".to_string(), "ntfy", NoticeKind::Withdrawal),
            ("s-1".to_string(), "email", NoticeKind::Withdrawal),
        ]
    );
    // Subject to the same blackouts and digests.
    assert_eq!(
        the_notice(&plan, "s-1", Email).due_at,
        at("2026-11-23T07:00:00+01:00")
    );
    assert_eq!(
        the_notice(&plan, "g-2", Ntfy).due_at,
        at("2026-11-23T17:00:00+01:00")
    );
    assert!(suppressed_rules(&plan, "g-1").is_empty());

    // Nothing delivered: nothing to withdraw.
    let plan = plan_at(&ev, None, &[], &dir, &p, ev.occurred_utc());
    assert!(plan.notices.is_empty());
    assert_eq!(plan.suppressed.len(), 1);
    assert_eq!(plan.suppressed[0].rule, "not_delivered");

    // Absences too.
    let done = [delivered(
        "g-1",
        Email,
        "evt-a",
        "2026-11-23T09:25:00+01:00",
    )];
    let ev = withdrawn(
        "absence.withdrawn",
        "evt-b",
        "2026-11-23T10:00:00+01:00",
        "abs-1",
    );
    let plan = plan_at(&ev, None, &done, &dir, &p, ev.occurred_utc());
    assert_eq!(
        summary(&plan),
        [("g-1".to_string(), "email", NoticeKind::Withdrawal)]
    );
}

// ---- 9. Bounded search and sanity -----------------------------------------------------------------

fn config_error(overrides: &[(&str, &str)]) -> String {
    let text = config_text(overrides);
    match Config::parse(Path::new("t.toml"), &text) {
        Ok(_) => panic!("accepted a config that can never deliver:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn configs_without_free_time_are_rejected() {
    let err = config_error(&[
        ("quiet_hours.start", r#""07:00""#),
        ("quiet_hours.end", r#""07:00""#),
    ]);
    assert!(
        err.contains("quiet_hours.end") && err.contains("whole day"),
        "{err}"
    );

    let err = config_error(&[
        ("weekend.from", r#""wed 12:00""#),
        ("weekend.until", r#""wed 12:00""#),
    ]);
    assert!(err.contains("weekend.until"), "{err}");

    // Quiet all day but 06:59-07:00, and a weekend covering that minute every day of the week
    // except an hour on Monday that is quiet: together no free minute at all.
    let err = config_error(&[
        ("quiet_hours.start", r#""07:00""#),
        ("quiet_hours.end", r#""06:59""#),
        ("weekend.from", r#""mon 06:00""#),
        ("weekend.until", r#""mon 05:00""#),
    ]);
    assert!(err.contains("no time"), "{err}");

    // A digest that only fires inside quiet hours or the weekend.
    let err = config_error(&[("digest.guardians", r#""0 22 * * *""#)]);
    assert!(
        err.contains("digest.guardians") && err.contains("never be delivered"),
        "{err}"
    );
    let err = config_error(&[("digest.students", r#""0 12 * * sat,sun""#)]);
    assert!(err.contains("digest.students"), "{err}");
}

#[test]
fn a_narrow_gap_is_still_found() {
    // One free minute a day: the search is bounded, not short-sighted.
    let p = policy(&[
        ("quiet_hours.start", r#""07:00""#),
        ("quiet_hours.end", r#""06:59""#),
        ("grades.report_hours", r#""off""#),
    ]);
    let dir = directory(student());
    let plan = plan_fresh(&test_grade("2026-11-18T10:00:00+01:00"), &dir, &p);
    assert_eq!(
        the_notice(&plan, "s-1", Email).due_at,
        at("2026-11-19T06:59:00+01:00")
    );
    // Over the Christmas holiday and the weekend.
    let plan = plan_fresh(&test_grade("2026-12-18T10:00:00+01:00"), &dir, &p);
    assert_eq!(
        the_notice(&plan, "s-1", Email).due_at,
        at("2027-01-05T06:59:00+01:00")
    );
}

#[test]
fn an_impossible_calendar_suppresses_instead_of_hanging() {
    // Built by hand, past Config::parse's check: the weekend covers the whole week.
    let mut p = policy(&[]);
    p.calendar.weekend = Some(("mon 00:00".parse().unwrap(), "mon 00:00".parse().unwrap()));
    let dir = directory(student());
    let ev = test_grade("2026-11-23T10:00:00+01:00");
    let out = plan(&ev, &Facts::default(), &dir, &p, ev.occurred_utc());
    assert!(out.notices.is_empty(), "{out:#?}");
    for who in ["s-1", "g-1", "g-2"] {
        assert_eq!(suppressed_rules(&out, who), ["undeliverable"], "{who}");
    }
    let ev = absence("evt-a", "2026-11-23T10:00:00+01:00", "unauthorized");
    let out = plan(&ev, &Facts::default(), &dir, &p, ev.occurred_utc());
    assert!(out.notices.is_empty());
    assert_eq!(suppressed_rules(&out, "g-1"), ["undeliverable"]);
}

#[test]
fn events_for_unknown_students_and_releases_plan_nothing() {
    let p = policy(&[]);
    let dir = directory(student());
    let ev = event(json!({
        "id": "evt-x", "type": "grade.entered", "school": "school",
        "occurred_at": "2026-11-23T10:00:00+01:00", "record": "r-9", "student": "s-404",
        "grade": {"assessment": "a-1", "subject": "wiskunde", "class": "3c", "value": 7, "kind": "test"}
    }));
    let plan = plan_fresh(&ev, &dir, &p);
    assert!(plan.notices.is_empty());
    assert_eq!(plan.suppressed[0].rule, "unknown_student");
    let ev = event(json!({
        "id": "evt-r", "type": "assessment.released", "school": "school",
        "occurred_at": "2026-11-23T11:05:00+01:00", "record": "a-1",
        "assessment": "a-1", "class": "3c"
    }));
    assert_eq!(plan_fresh(&ev, &dir, &p), Plan::default());
}

#[test]
fn report_grades_keep_to_report_hours_rather_than_the_students_digest() {
    let p = policy(&[
        ("digest.students", r#""0 17 * * mon-fri""#),
        ("grades.report_hours", r#""09:00-16:00""#),
        ("grades.classroom_first", r#""off""#),
    ]);
    let dir = directory(student());
    let report = plan_fresh(
        &grade("evt-1", "2026-11-23T10:00:00+01:00", "report", "wiskunde"),
        &dir,
        &p,
    );
    assert_eq!(
        the_notice(&report, "s-1", Email).due_at,
        at("2026-11-23T10:00:00+01:00")
    );
    let test = plan_fresh(
        &grade("evt-2", "2026-11-23T10:00:00+01:00", "test", "wiskunde"),
        &dir,
        &p,
    );
    assert_eq!(
        the_notice(&test, "s-1", Email).due_at,
        at("2026-11-23T17:00:00+01:00")
    );
}
