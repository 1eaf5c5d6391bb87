//! From raw bytes to planned notices, one transaction per batch: validate, dedupe by event id,
//! quarantine bad input, keep each record's newest version, and (re-)plan its notices.
//!
//! Sources call [`Ingestor::ingest`] and acknowledge only after it returns `Ok`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::model::event::EVENT_TYPES;
use crate::model::{ChannelKind, Directory, Event, EventBody, EventError};
use crate::observe::laps::Laps;
use crate::observe::metrics;
use crate::policy::{plan, Delivered, Facts, Notice, Plan};
use crate::store::retention::{content_hash, QuarantineItem, QuarantineKind};
use crate::store::unresolved::Unresolved;
use crate::store::{Current, RecordKey, Store, StoreError, Tx};

/// The ingestor plans against it; sources and tests also reach it here.
pub use crate::shared::Shared;

/// What became of one submitted event.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Stored and planned.
    New { id: String },
    /// Its id was already stored with the same content; nothing changed.
    Duplicate { id: String },
    /// Its id was already stored with other content: kept in quarantine (kind `conflict`) for
    /// the operator, nothing changed.
    Conflict { id: String },
    /// Stored, but an event with a later `occurred_at` for the same record came first.
    Stale { id: String },
    /// Rejected and kept in quarantine.
    Rejected { error: EventError },
}

/// Sees every plan as it is made (`simulate --explain`).
pub type PlanObserver = Arc<dyn Fn(&Event, &Plan, DateTime<Utc>) + Send + Sync>;

pub struct Ingestor {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    observer: Option<PlanObserver>,
    /// Batches refused because the quarantine was full, since start.
    quarantine_full: AtomicU64,
    /// Channels without their table that planning already warned about (once each).
    warned_channels: std::sync::Mutex<HashSet<ChannelKind>>,
    /// Where ingest's time went, since start (`rustig bench` prints it).
    phases: Laps<6>,
}

/// Ingest's phases, in the order of [`PhaseTimes`]' fields.
const PARSE: usize = 0;
const EVENTS: usize = 1;
const FACTS: usize = 2;
const PLAN: usize = 3;
const WRITE: usize = 4;
const COMMIT: usize = 5;

/// Seconds spent in each phase of ingest since start, summed over batches.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PhaseTimes {
    /// Parsing and checking the events' JSON.
    pub parse: f64,
    /// Storing the events (deduplication by id) and quarantining what was rejected.
    pub events: f64,
    /// Reading the records' current versions, releases and deliveries.
    pub facts: f64,
    /// Planning the notices in memory (and releases' re-plans).
    pub plan: f64,
    /// Writing records and notices.
    pub write: f64,
    /// The commit, fsync included.
    pub commit: f64,
}

impl Ingestor {
    pub fn new(store: Arc<dyn Store>, shared: Arc<Shared>) -> Ingestor {
        Ingestor {
            store,
            shared,
            observer: None,
            quarantine_full: AtomicU64::new(0),
            warned_channels: std::sync::Mutex::default(),
            phases: Laps::default(),
        }
    }

    pub fn observe(mut self, f: PlanObserver) -> Ingestor {
        self.observer = Some(f);
        self
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Batches refused since start because the quarantine was full (`[quarantine]
    /// max_bytes`), for health and metrics.
    pub fn quarantine_full_refusals(&self) -> u64 {
        self.quarantine_full.load(Ordering::Relaxed)
    }

    /// Time spent per phase of ingest since start.
    pub fn phases(&self) -> PhaseTimes {
        let [parse, events, facts, plan, write, commit] = self.phases.seconds();
        PhaseTimes {
            parse,
            events,
            facts,
            plan,
            write,
            commit,
        }
    }

    /// Ingests raw events (one JSON object each) in one transaction. When this returns `Ok`
    /// every event is durably committed or quarantined.
    pub async fn ingest(
        &self,
        raws: &[&[u8]],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let start = std::time::Instant::now();
        let config = self.shared.config();
        let parsed: Vec<Result<Event, EventError>> = raws
            .iter()
            .map(|raw| {
                Event::parse(raw)
                    .and_then(|e| e.check_received(now))
                    .and_then(|e| check_school(&config, e))
            })
            .collect();
        self.phases.lap(PARSE, start);
        self.ingest_parsed(raws, parsed, source, now).await
    }

    /// Ingests events parsed elsewhere; `raws[i]` is the input behind `parsed[i]`.
    pub async fn ingest_parsed(
        &self,
        raws: &[&[u8]],
        parsed: Vec<Result<Event, EventError>>,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let config = self.shared.config();
        let dir = self.shared.directory();
        let keep = config.quarantine.keep_bytes;
        let clock = std::time::Instant::now();
        let mut tx = self.store.begin().await?;
        let mut out = Vec::with_capacity(parsed.len());
        let mut events = Vec::with_capacity(parsed.len());
        // Input behind each event, for the quarantine of a conflict.
        let mut event_raws: Vec<&[u8]> = Vec::with_capacity(parsed.len());
        let mut quarantine = Vec::new();
        let mut rejected_fields = Vec::new();
        for (raw, item) in raws.iter().zip(parsed) {
            match item {
                Err(error) => {
                    quarantine.push(QuarantineItem::new(
                        source,
                        QuarantineKind::Rejected,
                        error.to_string(),
                        raw,
                        keep,
                        now,
                    ));
                    // The message may quote the input; only the field is logged, once kept.
                    rejected_fields.push(error.field.to_string());
                    out.push(Some(Accepted::Rejected { error }));
                }
                Ok(event) => {
                    out.push(None);
                    events.push(event);
                    event_raws.push(raw);
                }
            }
        }
        let refs: Vec<&Event> = events.iter().collect();
        let new = tx.insert_events(&refs, now).await?;
        let conflicts = conflicts(&mut *tx, &refs, &new).await?;
        for &i in &conflicts {
            let id = &events[i].id;
            quarantine.push(QuarantineItem::new(
                source,
                QuarantineKind::Conflict,
                format!("conflict: event id {id:?} was stored before with other content; the stored version stays"),
                event_raws[i],
                keep,
                now,
            ));
        }
        if !quarantine.is_empty() {
            let cost: i64 = quarantine.iter().map(QuarantineItem::cost).sum();
            let used = tx.quarantine_bytes().await?;
            let max = config.quarantine.max_bytes;
            if (used + cost).max(0) as u64 > max {
                // Dropping the transaction rolls the whole batch back: nothing is acknowledged.
                self.quarantine_full.fetch_add(1, Ordering::Relaxed);
                metrics::ingest_refused(source);
                return Err(StoreError::QuarantineFull { used, max });
            }
            for item in &quarantine {
                tx.quarantine(item).await?;
            }
        }
        // Said once the items are kept, not for a batch the full quarantine refused.
        for field in &rejected_fields {
            tracing::warn!(source, field = %field, "event rejected and quarantined");
        }
        for _ in &conflicts {
            tracing::warn!(source, "event id stored before with other content; the new one is quarantined as a conflict");
        }
        let fresh: Vec<&Event> = refs
            .iter()
            .zip(&new)
            .filter(|(_, n)| **n)
            .map(|(e, _)| *e)
            .collect();
        let clock = self.phases.lap(EVENTS, clock);
        let mut batch = Batch::load(&mut *tx, &fresh).await?;
        let clock = self.phases.lap(FACTS, clock);
        let ctx = Ctx {
            config: &config,
            dir: &dir,
            now,
            observer: &self.observer,
        };
        let mut results = Vec::with_capacity(events.len());
        for (i, (event, is_new)) in events.iter().zip(new).enumerate() {
            results.push(if is_new {
                batch.apply(&mut *tx, event, &ctx).await?
            } else if conflicts.contains(&i) {
                Accepted::Conflict {
                    id: event.id.clone(),
                }
            } else {
                Accepted::Duplicate {
                    id: event.id.clone(),
                }
            });
        }
        let clock = self.phases.lap(PLAN, clock);
        batch.flush(&mut *tx).await?;
        let clock = self.phases.lap(WRITE, clock);
        tx.commit().await?;
        self.phases.lap(COMMIT, clock);
        batch.say_planned();
        batch.say_waiting();
        self.say_unconfigured(&mut batch, &config);
        self.shared.wake.notify_one();
        let mut results = results.into_iter();
        let out: Vec<Accepted> = out
            .into_iter()
            .map(|o| o.or_else(|| results.next()).expect("one result per event"))
            .collect();
        count(source, &out, raws, &events);
        say_batch(source, &out);
        Ok(out)
    }

    /// Re-plans every record with pending notices (after a config or directory change).
    pub async fn replan_all(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let records = self.store.pending_records().await?;
        let n = self.replan_records(&records, now).await?;
        // The directory may list students that events were waiting for.
        self.plan_resolved(now).await?;
        Ok(n)
    }

    /// Re-plans the pending notices about the students a person (a student, or a guardian
    /// of one or more) belongs to, on the same path as a reload: after a change of their
    /// choices, so that it takes effect at once.
    pub async fn replan_person(
        &self,
        school: &str,
        person: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let dir = self.shared.listed_directory();
        let students: Vec<String> = dir
            .students_of(school, person)
            .iter()
            .map(|s| s.id.clone())
            .collect();
        if students.is_empty() {
            return Ok(0);
        }
        let records = self
            .store
            .preferences()
            .pending_records_of_students(school, &students)
            .await?;
        self.replan_records(&records, now).await
    }

    /// Re-plans these records (their current versions) under the config, directory and
    /// choices in force.
    pub async fn replan_records(
        &self,
        records: &[RecordKey],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let config = self.shared.config();
        let dir = self.shared.directory();
        let ctx = Ctx {
            config: &config,
            dir: &dir,
            now,
            observer: &self.observer,
        };
        let total = records.len();
        for (i, chunk) in records.chunks(1000).enumerate() {
            if i % 20 == 19 {
                tracing::info!(done = i * 1000, total, "re-planning pending notices");
            }
            let mut tx = self.store.begin().await?;
            let ids: Vec<String> = tx
                .currents(chunk)
                .await?
                .into_values()
                .map(|c| c.event_id)
                .collect();
            let events = tx.events_by_id(&ids).await?;
            let mut current: Vec<&Event> = events.values().collect();
            current.sort_by(|a, b| (&a.school, &a.record).cmp(&(&b.school, &b.record)));
            let mut batch = Batch::load(&mut *tx, &current).await?;
            for event in current {
                batch.replan(event, &ctx);
            }
            batch.flush(&mut *tx).await?;
            tx.commit().await?;
            batch.say_planned();
            batch.say_waiting();
            self.say_unconfigured(&mut batch, &config);
        }
        self.shared.wake.notify_one();
        Ok(total)
    }

    /// Once per channel (not per notice): notices were planned on a channel whose table the
    /// config lacks, so nothing will be sent to them.
    fn say_unconfigured(&self, batch: &mut Batch, config: &Config) {
        if batch.channels.is_empty() {
            return;
        }
        let mut warned = self.warned_channels.lock().expect("warned lock");
        for kind in std::mem::take(&mut batch.channels) {
            let Some(table) = config.channels.missing_table(kind) else {
                continue;
            };
            if warned.insert(kind) {
                tracing::warn!(
                    channel = kind.as_str(),
                    "notices planned on {} but the config has no {table} table: they cannot be \
                     sent (add the table; `rustig check --directory` lists the contacts)",
                    kind.as_str()
                );
            }
        }
    }

    /// Plans the events that waited for their student, for every student the directory in
    /// force now lists (after an import, a reload, the SIS's directory); returns how many.
    pub async fn plan_resolved(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let dir = self.shared.directory();
        let known: Vec<Unresolved> = self
            .store
            .unresolved()
            .waiting()
            .await?
            .into_iter()
            .filter(|u| dir.student(&u.school, &u.student).is_some())
            .collect();
        if known.is_empty() {
            return Ok(0);
        }
        let mut records: Vec<RecordKey> = known
            .iter()
            .map(|u| (u.school.clone(), u.record.clone()))
            .collect();
        dedup(&mut records);
        // Planned first, forgotten after: a crash in between plans them once more, harmlessly.
        self.replan_records(&records, now).await?;
        let ids: Vec<String> = known.iter().map(|u| u.event_id.clone()).collect();
        self.store.unresolved().resolved(&ids).await?;
        let mut students: Vec<(&str, &str)> = known
            .iter()
            .map(|u| (u.school.as_str(), u.student.as_str()))
            .collect();
        students.sort_unstable();
        students.dedup();
        tracing::info!(
            events = known.len(),
            students = students.len(),
            "events that waited for their student in the directory are planned"
        );
        Ok(known.len())
    }

    /// Events that waited longer than `[directory] unresolved_hold` for their student are
    /// dead, with the reason; returns how many died now.
    pub async fn expire_unresolved(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let hold = self.shared.config().unresolved_hold;
        let before = now
            .checked_sub_signed(hold)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let reason = format!(
            "its student was not in the directory within [directory] unresolved_hold ({})",
            crate::model::time::human(hold)
        );
        let dead = self.store.unresolved().expire(before, now, &reason).await?;
        for u in &dead {
            // Ids only: nothing personal at warn.
            tracing::warn!(
                event = %u.event_id,
                school = %u.school,
                student = %u.student,
                "event dead: {reason}"
            );
        }
        Ok(dead.len())
    }
}

/// One info line per accepted batch, counts only (nothing personal, no ids).
fn say_batch(source: &str, out: &[Accepted]) {
    let (mut new, mut duplicate, mut conflict, mut stale, mut rejected) = (0, 0, 0, 0, 0);
    for a in out {
        match a {
            Accepted::New { .. } => new += 1,
            Accepted::Duplicate { .. } => duplicate += 1,
            Accepted::Conflict { .. } => conflict += 1,
            Accepted::Stale { .. } => stale += 1,
            Accepted::Rejected { .. } => rejected += 1,
        }
    }
    tracing::info!(
        source = %source,
        events = out.len(),
        new,
        duplicate,
        conflict,
        stale,
        rejected,
        "batch accepted"
    );
}

/// Indexes of the events that repeat a stored id (or one earlier in the batch) with other
/// content. Only repeats are hashed again: new events cost nothing here.
async fn conflicts(
    tx: &mut dyn Tx,
    events: &[&Event],
    new: &[bool],
) -> Result<BTreeSet<usize>, StoreError> {
    let repeats: Vec<usize> = (0..events.len()).filter(|i| !new[*i]).collect();
    if repeats.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut ids: Vec<String> = repeats.iter().map(|i| events[*i].id.clone()).collect();
    ids.sort();
    ids.dedup();
    // The transaction sees the batch's own inserts: a repeat within it compares with the first.
    let stored = tx.event_hashes(&ids).await?;
    Ok(repeats
        .into_iter()
        .filter(|i| {
            let e = events[*i];
            stored
                .get(&e.id)
                .is_some_and(|h| *h != content_hash(&e.to_json()))
        })
        .collect())
}

/// Events must name a school the config knows (when it names any).
pub fn check_school(config: &Config, e: Event) -> Result<Event, EventError> {
    if config.policy(&e.school).is_some() {
        Ok(e)
    } else {
        Err(EventError {
            field: "school".into(),
            message: format!(
                "unknown school {:?}; configured: {}",
                e.school,
                config.known_schools()
            ),
        })
    }
}

/// What planning needs besides the event and its facts.
struct Ctx<'a> {
    config: &'a Config,
    dir: &'a Directory,
    now: DateTime<Utc>,
    observer: &'a Option<PlanObserver>,
}

/// One batch's facts, read up front in a few statements, and its writes, held back and
/// written together: ingest costs a handful of round trips per batch, not several per event.
/// Later events of the batch see what earlier ones did (the in-memory currents).
struct Batch {
    currents: HashMap<RecordKey, Current>,
    releases: HashMap<RecordKey, DateTime<Utc>>,
    delivered: HashMap<RecordKey, Vec<Delivered>>,
    /// Records whose current version changed, to write at the next flush.
    changed: HashMap<RecordKey, Current>,
    /// Records planned since the last flush, in the order first planned, with their notices
    /// (a later version of the record replaces an earlier one's).
    planned: Vec<RecordKey>,
    notices: HashMap<RecordKey, Vec<Notice>>,
    /// Events planned for a student the directory does not know, to keep at the next flush.
    unresolved: Vec<Unresolved>,
    /// Students first found missing by this batch, said once it is committed.
    newly_waiting: Vec<(String, String)>,
    /// Channels the batch planned notices on.
    channels: HashSet<ChannelKind>,
    /// What planning decided, counted once the batch is committed.
    tally: Tally,
}

/// Planned notices by (school, last rule) and suppressed ones by (school, rule), for the
/// metrics: counted after the commit, so that a batch rolled back (and sent again by its
/// source) is counted once.
#[derive(Default)]
struct Tally {
    planned: Vec<(String, &'static str)>,
    suppressed: Vec<(String, &'static str)>,
}

impl Tally {
    fn add(&mut self, p: &Plan) {
        for n in &p.notices {
            let rule = n.reasons.last().map_or("entered", |r| r.rule.name());
            self.planned.push((n.school.clone(), rule));
        }
        for s in &p.suppressed {
            self.suppressed.push((s.school.clone(), s.rule));
        }
    }

    fn count(&mut self) {
        for (school, rule) in self.planned.drain(..) {
            metrics::planned(&school, rule);
        }
        for (school, rule) in self.suppressed.drain(..) {
            metrics::suppressed(&school, rule);
        }
    }
}

impl Batch {
    /// Reads the current versions, classroom releases and deliveries `events` may need.
    async fn load(tx: &mut dyn Tx, events: &[&Event]) -> Result<Batch, StoreError> {
        let mut records: Vec<RecordKey> = Vec::with_capacity(events.len());
        let mut release_keys: Vec<RecordKey> = Vec::new();
        for e in events {
            match &e.body {
                EventBody::AssessmentReleased { .. } => {}
                EventBody::GradeEntered { .. } => {
                    records.push(record_key(e));
                    if let Some(key) = e.release_key() {
                        release_keys.push((e.school.clone(), key));
                    }
                }
                _ => records.push(record_key(e)),
            }
        }
        dedup(&mut records);
        dedup(&mut release_keys);
        Ok(Batch {
            currents: tx.currents(&records).await?,
            releases: tx.releases(&release_keys).await?,
            delivered: tx.delivered_of(&records).await?,
            changed: HashMap::new(),
            planned: Vec::new(),
            notices: HashMap::new(),
            unresolved: Vec::new(),
            newly_waiting: Vec::new(),
            channels: HashSet::new(),
            tally: Tally::default(),
        })
    }

    /// Applies one new event: keeps the record's newest version and plans it.
    async fn apply(
        &mut self,
        tx: &mut dyn Tx,
        event: &Event,
        ctx: &Ctx<'_>,
    ) -> Result<Accepted, StoreError> {
        let id = event.id.clone();
        if let EventBody::AssessmentReleased { .. } = &event.body {
            // Rare: re-plans the grades waiting for it, one by one, on the store as it is.
            self.flush(tx).await?;
            let key = event.release_key().expect("releases have a key");
            let at = event.occurred_utc();
            tx.record_release(&event.school, &key, at).await?;
            let earliest = self
                .releases
                .entry((event.school.clone(), key.clone()))
                .or_insert(at);
            *earliest = (*earliest).min(at);
            for record in tx.records_waiting_for(&event.school, &key).await? {
                if let Some(cur) = tx.current(&event.school, &record).await? {
                    if let Some(grade) = tx.event(&cur.event_id).await? {
                        replan(tx, &grade, ctx, &mut self.tally).await?;
                    }
                }
            }
            return Ok(Accepted::New { id });
        }
        let key = record_key(event);
        if self
            .currents
            .get(&key)
            .is_some_and(|c| c.occurred_at > event.occurred_utc())
        {
            // Out of order: a newer version of this record is already in force.
            return Ok(Accepted::Stale { id });
        }
        let current = Current {
            event_id: id.clone(),
            occurred_at: event.occurred_utc(),
        };
        self.currents.insert(key.clone(), current.clone());
        self.changed.insert(key, current);
        self.replan(event, ctx);
        Ok(Accepted::New { id })
    }

    /// Plans `event` (its record's current version) with the batch's facts.
    fn replan(&mut self, event: &Event, ctx: &Ctx<'_>) {
        let key = record_key(event);
        let released_at = match (&event.body, event.release_key()) {
            (EventBody::GradeEntered { .. }, Some(k)) => {
                self.releases.get(&(event.school.clone(), k)).copied()
            }
            _ => None,
        };
        let delivered = self.delivered.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let Some(p) = plan_event(event, released_at, delivered, ctx) else {
            return;
        };
        self.tally.add(&p);
        if let Some(student) = event.student() {
            if ctx.dir.student(&event.school, student).is_none() {
                self.unresolved.push(Unresolved::new(
                    &event.id,
                    &event.school,
                    student,
                    &event.record,
                    ctx.now,
                ));
            }
        }
        self.channels.extend(p.notices.iter().map(|n| n.channel));
        if self.notices.insert(key.clone(), p.notices).is_none() {
            self.planned.push(key);
        }
    }

    /// Writes what the batch changed so far.
    async fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        if !self.changed.is_empty() {
            let changed: Vec<(RecordKey, Current)> = self.changed.drain().collect();
            tx.set_currents(&changed).await?;
        }
        if !self.planned.is_empty() {
            let mut notices = Vec::new();
            for key in &self.planned {
                notices.extend(self.notices.remove(key).unwrap_or_default());
            }
            tx.replace_pending_of(&self.planned, &notices).await?;
            self.planned.clear();
        }
        if !self.unresolved.is_empty() {
            let first = tx.add_unresolved(&self.unresolved).await?;
            self.unresolved.clear();
            self.newly_waiting.extend(first);
        }
        Ok(())
    }

    /// Counts what the committed batch planned.
    fn say_planned(&mut self) {
        self.tally.count();
    }

    /// Once per student: events for them wait until the directory lists them (by id only).
    fn say_waiting(&mut self) {
        for (school, student) in self.newly_waiting.drain(..) {
            tracing::warn!(
                school = %school,
                student = %student,
                "event for a student the directory does not list: kept unresolved until an \
                 import adds the student ([directory] unresolved_hold)"
            );
        }
    }
}

/// Counts a committed batch: each event by its outcome and type, and what went to
/// quarantine. Rejected input is counted under the type it claims when that is a known one,
/// else `invalid` (a label value from the input would be unbounded).
fn count(source: &str, out: &[Accepted], raws: &[&[u8]], events: &[Event]) {
    let mut events = events.iter();
    let (mut rejected, mut conflicts) = (0, 0);
    for (a, raw) in out.iter().zip(raws) {
        let (kind, outcome) = match a {
            Accepted::Rejected { .. } => {
                rejected += 1;
                metrics::event(source, claimed_type(raw), "rejected");
                continue;
            }
            Accepted::New { .. } => (events.next(), "new"),
            Accepted::Stale { .. } => (events.next(), "stale"),
            Accepted::Duplicate { .. } => (events.next(), "duplicate"),
            Accepted::Conflict { .. } => {
                conflicts += 1;
                (events.next(), "conflict")
            }
        };
        let kind = kind.map_or("invalid", |e| e.type_name());
        metrics::event(source, kind, outcome);
    }
    if rejected > 0 {
        metrics::quarantined(source, "rejected", rejected);
    }
    if conflicts > 0 {
        metrics::quarantined(source, "conflict", conflicts);
    }
}

/// The `type` a rejected input claims, if it is one of [`EVENT_TYPES`].
fn claimed_type(raw: &[u8]) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Typed>(raw)
        .ok()
        .and_then(|t| t.kind)
        .and_then(|k| EVENT_TYPES.into_iter().find(|t| *t == k))
        .unwrap_or("invalid")
}

fn record_key(e: &Event) -> RecordKey {
    (e.school.clone(), e.record.clone())
}

fn dedup(keys: &mut Vec<RecordKey>) {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(k.clone()));
}

/// Plans `event` with its facts and shows the plan to the observer; `None` when its school
/// is no longer configured (its pending notices are then left as they are).
fn plan_event(
    event: &Event,
    released_at: Option<DateTime<Utc>>,
    delivered: &[Delivered],
    ctx: &Ctx<'_>,
) -> Option<Plan> {
    let policy = ctx.config.policy(&event.school)?;
    let facts = Facts {
        released_at,
        delivered,
    };
    let p = plan(event, &facts, ctx.dir, policy, ctx.now);
    for s in &p.suppressed {
        tracing::debug!(event = %s.event_id, recipient = ?s.recipient, rule = s.rule, "suppressed: {}", s.why);
    }
    if let Some(obs) = ctx.observer {
        obs(event, &p, ctx.now);
    }
    Some(p)
}

/// Plans `event` (the record's current version) and replaces the record's pending notices.
async fn replan(
    tx: &mut dyn Tx,
    event: &Event,
    ctx: &Ctx<'_>,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let released_at = match (&event.body, event.release_key()) {
        (EventBody::GradeEntered { .. }, Some(key)) => tx.released_at(&event.school, &key).await?,
        _ => None,
    };
    let delivered = tx.delivered(&event.school, &event.record).await?;
    let Some(p) = plan_event(event, released_at, &delivered, ctx) else {
        return Ok(());
    };
    tally.add(&p);
    tx.replace_pending(&event.school, &event.record, &p.notices)
        .await
}
