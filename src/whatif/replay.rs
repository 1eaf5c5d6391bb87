//! Stored events replayed on a virtual clock under one config, the way `rustig simulate`
//! replays them (DESIGN.md): each event at its `occurred_at`, in that order (stable for
//! ties), through the same planner ([`crate::policy::plan`]) and the same release step
//! ([`crate::policy::release`]: the daily cap), with what the store does between the two
//! kept in memory: a record's newest version supersedes its pending notices, an
//! `assessment.released` re-plans the grades waiting for it, and a notice goes out when it is
//! due, bundled with what else is due for its recipient and channel. Nothing is rendered or
//! stored, so two configs over two weeks of a large school replay in well under a second;
//! `tests/whatif.rs` checks the outcome against `rustig simulate` itself. Pure: no IO, no
//! clock.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt};

use chrono::{DateTime, Utc};

use super::diff::{Fate, Fates};
use crate::config::Config;
use crate::model::{ChannelKind, Directory, Event, EventBody};
use crate::policy::{plan, release, Delivered, Facts, Notice, NoticeKind};

type RecordKey = (String, String);

/// One message that went out in the replay, or its part about one student (a guardian's
/// digest about several children): what the calm figures count, as the outlook counts the
/// store's deliveries.
pub use crate::outlook::Delivery as Message;

/// What the replay produced.
#[derive(Debug, Default)]
pub struct Replay {
    /// Every notice that went out, by (event, recipient, channel).
    pub fates: Fates,
    /// Messages (parts per student) in the order they went out.
    pub messages: Vec<Message>,
    /// Events replayed (those of schools the config knows).
    pub events: usize,
    /// Notices still pending when the replay stopped at `until`.
    pub left_pending: usize,
}

/// Replays `events` under `config` with the planning directory `dir`, until every notice is
/// out or `until`.
pub fn replay(
    config: &Config,
    dir: &Directory,
    events: &[Event],
    until: Option<DateTime<Utc>>,
) -> Replay {
    let mut order: Vec<&Event> = events
        .iter()
        .filter(|e| config.policy(&e.school).is_some())
        .collect();
    // Stable: ties keep their order (the store's, by received_at and id).
    order.sort_by_key(|e| e.occurred_utc());
    let mut world = World {
        config,
        dir,
        currents: HashMap::new(),
        pending: HashMap::new(),
        due: BTreeSet::new(),
        by_record: HashMap::new(),
        next_id: 0,
        delivered: HashMap::new(),
        waiting: HashMap::new(),
        releases: HashMap::new(),
        sent: HashMap::new(),
        out: Replay {
            events: order.len(),
            ..Replay::default()
        },
    };
    let mut next = order.into_iter().peekable();
    loop {
        let next_event = next.peek().map(|e| e.occurred_utc());
        let next_due = world.due.first().map(|(t, _)| *t);
        let (now, is_event) = match (next_event, next_due) {
            (Some(e), Some(d)) if d < e => (d, false),
            (Some(e), _) => (e, true),
            (None, Some(d)) => (d, false),
            (None, None) => break,
        };
        if until.is_some_and(|u| now > u) {
            break;
        }
        if is_event {
            let event = next.next().expect("peeked");
            world.apply(event, now);
        } else {
            world.run_due(now);
        }
    }
    world.out.left_pending = world.pending.len();
    let World {
        out,
        pending,
        by_record,
        delivered,
        waiting,
        releases,
        sent,
        ..
    } = world;
    drop_later((pending, by_record, delivered, waiting, releases, sent));
    out
}

/// Frees large maps on a thread of their own: some 100 000 small allocations that the
/// caller need not wait for. If no thread can be started, they are freed here.
pub fn drop_later<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("whatif-free".into())
        .spawn(move || drop(value));
}

struct World<'a> {
    config: &'a Config,
    dir: &'a Directory,
    /// The newest version of each record, and when it occurred.
    currents: HashMap<RecordKey, (&'a Event, DateTime<Utc>)>,
    /// Pending notices by id; their ids by due time and by record.
    pending: HashMap<u64, Notice>,
    due: BTreeSet<(DateTime<Utc>, u64)>,
    by_record: HashMap<RecordKey, Vec<u64>>,
    next_id: u64,
    delivered: HashMap<RecordKey, Vec<Delivered>>,
    /// Records that planned a notice waiting for a release, by (school, release key); checked
    /// against the pending notices when the release comes.
    waiting: HashMap<RecordKey, BTreeSet<String>>,
    /// Earliest classroom release per (school, release key).
    releases: HashMap<RecordKey, DateTime<Utc>>,
    /// Messages sent per (school, recipient, channel), for the daily cap.
    sent: HashMap<(String, String, ChannelKind), Vec<DateTime<Utc>>>,
    out: Replay,
}

impl<'a> World<'a> {
    fn apply(&mut self, event: &'a Event, now: DateTime<Utc>) {
        if let EventBody::AssessmentReleased { .. } = &event.body {
            let key = event.release_key().expect("releases have a key");
            let at = event.occurred_utc();
            let earliest = self
                .releases
                .entry((event.school.clone(), key.clone()))
                .or_insert(at);
            *earliest = (*earliest).min(at);
            // The records whose pending notices wait for this release, re-planned (by record,
            // as the store lists them).
            let candidates = self
                .waiting
                .remove(&(event.school.clone(), key.clone()))
                .unwrap_or_default();
            let waiting: Vec<RecordKey> = candidates
                .into_iter()
                .map(|r| (event.school.clone(), r))
                .filter(|r| {
                    self.by_record.get(r).is_some_and(|ids| {
                        ids.iter()
                            .any(|id| self.pending[id].release_key.as_deref() == Some(&key))
                    })
                })
                .collect();
            for record in waiting {
                if let Some((current, _)) = self.currents.get(&record).copied() {
                    self.replan(current, now);
                }
            }
            return;
        }
        let record = (event.school.clone(), event.record.clone());
        let occurred = event.occurred_utc();
        if self
            .currents
            .get(&record)
            .is_some_and(|(_, at)| *at > occurred)
        {
            return; // stale: a newer version is in force
        }
        self.currents.insert(record, (event, occurred));
        self.replan(event, now);
    }

    /// Plans the record's current version and replaces its pending notices, keeping what went
    /// out already (as the store's insert does).
    fn replan(&mut self, event: &Event, now: DateTime<Utc>) {
        let Some(policy) = self.config.policy(&event.school) else {
            return;
        };
        let record = (event.school.clone(), event.record.clone());
        let released_at = match (&event.body, event.release_key()) {
            (EventBody::GradeEntered { .. }, Some(k)) => {
                self.releases.get(&(event.school.clone(), k)).copied()
            }
            _ => None,
        };
        let delivered = self
            .delivered
            .get(&record)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let facts = Facts {
            released_at,
            delivered,
        };
        let planned = plan(event, &facts, self.dir, policy, now);
        for id in self.by_record.remove(&record).unwrap_or_default() {
            if let Some(n) = self.pending.remove(&id) {
                self.due.remove(&(n.due_at, id));
            }
        }
        let mut ids = Vec::with_capacity(planned.notices.len());
        for n in planned.notices {
            // What went out (`out.fates`) is never planned again; event ids are unique.
            let key = (n.event_id.clone(), n.recipient.clone(), n.channel);
            if self.out.fates.contains_key(&key) {
                continue;
            }
            if let Some(k) = &n.release_key {
                self.waiting
                    .entry((n.school.clone(), k.clone()))
                    .or_default()
                    .insert(n.record.clone());
            }
            let id = self.next_id;
            self.next_id += 1;
            self.due.insert((n.due_at, id));
            self.pending.insert(id, n);
            ids.push(id);
        }
        if !ids.is_empty() {
            self.by_record.insert(record, ids);
        }
    }

    /// Everything due at `now`, one message per (school, recipient, channel), unless the
    /// daily cap defers it to the next day's slot.
    fn run_due(&mut self, now: DateTime<Utc>) {
        let mut due = vec![];
        while let Some(&(t, id)) = self.due.first() {
            if t > now {
                break;
            }
            self.due.pop_first();
            due.push(id);
        }
        // Grouped on borrowed keys (one clone per group, not per notice), sent in key order.
        let mut by_who: HashMap<(&str, &str, ChannelKind), Vec<u64>> = HashMap::new();
        for id in due {
            let n = &self.pending[&id];
            by_who
                .entry((n.school.as_str(), n.recipient.as_str(), n.channel))
                .or_default()
                .push(id);
        }
        let mut groups: Vec<((String, String, ChannelKind), Vec<u64>)> = by_who
            .into_iter()
            .map(|((s, r, c), ids)| ((s.to_string(), r.to_string(), c), ids))
            .collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (who, ids) in groups {
            let policy = self.config.policy(&who.0);
            if let Some(since) = release::cap_since(policy, now) {
                let sent_today = self
                    .sent
                    .get(&who)
                    .map_or(0, |v| v.iter().filter(|t| **t >= since).count());
                let first = &self.pending[&ids[0]];
                let group = release::Group {
                    channel: first.channel,
                    role: first.role,
                    key: "",
                    attempts: 0,
                    first_due: now,
                };
                if let Some(release::Decision::Defer { reason }) =
                    release::over_cap(&group, policy, sent_today as i64, now)
                {
                    for id in ids {
                        let n = self.pending.get_mut(&id).expect("pending");
                        n.due_at = reason.to;
                        n.reasons.push(reason.clone());
                        self.due.insert((reason.to, id));
                    }
                    continue;
                }
            }
            self.send(who, ids, now);
        }
    }

    fn send(&mut self, who: (String, String, ChannelKind), ids: Vec<u64>, now: DateTime<Utc>) {
        // One message; a guardian's digest about several children in parts, one per student.
        let mut parts: BTreeMap<String, Message> = BTreeMap::new();
        for id in ids {
            let n = self.pending.remove(&id).expect("pending");
            let record = (n.school.clone(), n.record.clone());
            if let Some(list) = self.by_record.get_mut(&record) {
                list.retain(|i| *i != id);
                if list.is_empty() {
                    self.by_record.remove(&record);
                }
            }
            let discussed = (n.kind == NoticeKind::Grade).then(|| self.discussed(&n, now));
            let part = parts.entry(n.student.clone()).or_insert_with(|| Message {
                school: who.0.clone(),
                recipient: who.1.clone(),
                role: n.role,
                student: n.student.clone(),
                channel: who.2,
                at: now,
                event_ids: vec![],
                kinds: vec![],
                after_discussion: None,
            });
            if let Some(d) = discussed {
                part.after_discussion = Some(part.after_discussion.unwrap_or(true) && d);
            }
            part.event_ids.push(n.event_id.clone());
            part.kinds.push(n.kind);
            let key = (n.event_id.clone(), n.recipient.clone(), n.channel);
            self.delivered
                .entry(record.clone())
                .or_default()
                .push(Delivered {
                    recipient: n.recipient.clone(),
                    channel: n.channel,
                    event_id: n.event_id.clone(),
                    sent_at: now,
                });
            self.out.fates.insert(
                key,
                Fate {
                    school: n.school.clone(),
                    record: n.record.clone(),
                    student: n.student.clone(),
                    role: n.role,
                    channel: n.channel,
                    kind: n.kind,
                    at: now,
                    rule: n.reasons.last().map_or("entered", |r| r.rule.name()),
                },
            );
        }
        self.sent.entry(who).or_default().push(now);
        self.out.messages.extend(parts.into_values());
    }

    /// Whether the grade behind `n` was discussed in class by `now`.
    fn discussed(&self, n: &Notice, now: DateTime<Utc>) -> bool {
        let Some((event, _)) = self.currents.get(&(n.school.clone(), n.record.clone())) else {
            return false;
        };
        event
            .release_key()
            .and_then(|k| self.releases.get(&(n.school.clone(), k)))
            .is_some_and(|at| *at <= now)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::path::Path;

    use chrono::{Duration, TimeZone};

    use super::*;

    /// Two weeks of grades (some corrected, withdrawn, discussed in class), absences (some
    /// withdrawn) for the example's three students, NDJSON by time.
    fn weeks_of_events(seed: u64) -> String {
        let mut rng = fastrand::Rng::with_seed(seed);
        let start = Utc.with_ymd_and_hms(2026, 11, 16, 6, 0, 0).unwrap();
        let students = [("s-1001", "3c"), ("s-1002", "1a"), ("s-1003", "6v")];
        let mut events: Vec<(DateTime<Utc>, String)> = vec![];
        let at = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Europe::Amsterdam).to_rfc3339();
        for i in 0..160 {
            let t = start + Duration::minutes(rng.i64(0..14 * 24 * 60)) + Duration::seconds(i);
            let (student, class) = students[rng.usize(0..students.len())];
            if rng.u8(0..100) < 65 {
                let kind = if rng.u8(0..10) == 0 { "report" } else { "test" };
                let grade = |id: String, t: DateTime<Utc>, value: &str| {
                    format!(
                        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{}","record":"r-{i}","student":"{student}","grade":{{"assessment":"a-{i}","subject":"wiskunde","class":"{class}","description":"Toets","value":"{value}","kind":"{kind}"}}}}"#,
                        at(t)
                    )
                };
                events.push((t, grade(format!("g-{i}"), t, "6,1")));
                match rng.u8(0..10) {
                    0 | 1 => {
                        let t2 = t + Duration::minutes(rng.i64(5..3000));
                        events.push((t2, grade(format!("g-{i}-c"), t2, "7,2")));
                    }
                    2 => {
                        let t2 = t + Duration::minutes(rng.i64(5..3000));
                        events.push((t2, format!(r#"{{"id":"g-{i}-w","type":"grade.withdrawn","school":"coornhert","occurred_at":"{}","record":"r-{i}","student":"{student}"}}"#, at(t2))));
                    }
                    _ => {}
                }
                if rng.bool() {
                    let t2 = t + Duration::minutes(rng.i64(1..4000));
                    events.push((t2, format!(r#"{{"id":"rel-{i}","type":"assessment.released","school":"coornhert","occurred_at":"{}","record":"a-{i}","assessment":"a-{i}","class":"{class}"}}"#, at(t2))));
                }
            } else {
                let kind = ["unauthorized", "late", "sick", "removed"][rng.usize(0..4)];
                events.push((t, format!(r#"{{"id":"ab-{i}","type":"absence.registered","school":"coornhert","occurred_at":"{}","record":"ab-{i}","student":"{student}","absence":{{"kind":"{kind}","start":"{}","period":2}}}}"#, at(t), at(t))));
                if rng.u8(0..6) == 0 {
                    let t2 = t + Duration::minutes(rng.i64(1..120));
                    events.push((t2, format!(r#"{{"id":"ab-{i}-w","type":"absence.withdrawn","school":"coornhert","occurred_at":"{}","record":"ab-{i}","student":"{student}"}}"#, at(t2))));
                }
            }
        }
        events.sort_by_key(|(t, _)| *t);
        events.into_iter().fold(String::new(), |mut out, (_, l)| {
            let _ = writeln!(out, "{l}");
            out
        })
    }

    fn example(change: &[(&str, &str)]) -> Config {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut text = std::fs::read_to_string(root.join("config/rustig.toml")).unwrap();
        for (from, to) in change {
            assert!(text.contains(from), "{from}");
            text = text.replacen(from, to, 1);
        }
        Config::parse(&root.join("config/rustig.toml"), &text).unwrap()
    }

    /// The replay sends each notice when `simulate` does, under rules that use every step
    /// between the planner and the send: supersession, classroom releases, digests, the
    /// daily cap, report hours, weekends and holidays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_replay_sends_what_simulate_sends_when_it_sends_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir =
            crate::reload::read_directory(&root.join("config/directory.example.json")).unwrap();
        let variants: [&[(&str, &str)]; 6] = [
            &[],
            &[("start = \"20:00\"", "start = \"19:00\"")],
            &[(
                "classroom_first = \"next_lesson\"",
                "classroom_first = \"release\"",
            )],
            &[("max_per_day = 3", "max_per_day = 1")],
            &[(
                "guardians = \"0 17 * * mon-fri\"",
                "guardians = \"immediate\"",
            )],
            &[
                (
                    "classroom_first = \"next_lesson\"",
                    "classroom_first = \"embargo\"",
                ),
                ("guardian_delay = \"24h\"", "guardian_delay = \"0s\""),
            ],
        ];
        for seed in [1, 2] {
            let ndjson = weeks_of_events(seed);
            for change in variants {
                let config = example(change);
                let sim = crate::simulate::run(
                    config.clone(),
                    dir.clone(),
                    ndjson.as_bytes(),
                    &crate::simulate::Options::default(),
                )
                .await
                .unwrap();
                assert!(sim.input_errors.is_empty(), "{:?}", sim.input_errors);
                let mut expected = HashMap::new();
                for m in &sim.lines {
                    let at = DateTime::parse_from_rfc3339(m["at"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&Utc);
                    let channel = ChannelKind::parse(m["channel"].as_str().unwrap()).unwrap();
                    for e in m["events"].as_array().unwrap() {
                        let key = (
                            e.as_str().unwrap().to_string(),
                            m["recipient"].as_str().unwrap().to_string(),
                            channel,
                        );
                        expected.insert(key, at);
                    }
                }
                let events: Vec<Event> = crate::simulate::parse_events(&config, ndjson.as_bytes())
                    .into_iter()
                    .map(|(_, _, e)| e.unwrap())
                    .collect();
                let planning = super::super::planning_directory(&config, &dir, None);
                let got = replay(&config, &planning, &events, None);
                let got: HashMap<_, _> = got.fates.iter().map(|(k, f)| (k.clone(), f.at)).collect();
                let mut missing: Vec<_> = expected
                    .iter()
                    .filter(|(k, at)| got.get(*k) != Some(at))
                    .map(|(k, at)| (k.clone(), *at, got.get(k).copied()))
                    .collect();
                missing.sort();
                let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "seed {seed}, {change:?}: {} notices; differ: {missing:?}; only in the replay: {extra:?}",
                    expected.len()
                );
                assert!(expected.len() > 100, "{}", expected.len());
            }
        }
    }
}
