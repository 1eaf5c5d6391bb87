//! `[[ingest.somtoday]]`: grades (and the timetable, and optionally the directory) from
//! SOMtoday Connect, the supplier's partner API.
//!
//! Connect has no change timestamps and no webhooks, so each student's `voortgangsdossier`
//! is read and diffed against the last one: one request per student, spread evenly over
//! `interval` (a 1 500-student school at 15 minutes: one request every 0.6 s, never a
//! burst). The student list (paged) is read again every `students_interval`; a student's
//! `rooster` for this week and the next is read along with their grades when it is older
//! than that. With `events_feed` the `/events` feed (specified but "not yet implemented" in
//! Connect 14.10) names the students to read now, and everyone is swept once per
//! `students_interval`; a SIS without the feed is polled as without it.

pub mod api;
pub mod mapping;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Days, NaiveDate};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::config::sis::SomtodayConfig;
use crate::ingest::Ingestor;
use crate::model::directory::TimetableEntry;
use crate::source::health::SourceHealth;
use crate::source::poll::commit::{CommitError, Committer};
use crate::source::poll::fetch::FetchError;
use crate::source::poll::pace::{self, Pace};
use crate::source::poll::Fetched;
use crate::source::sis_directory::{DirectoryPart, SyncMessage};
use crate::store::snapshot::SnapshotChange;
use crate::store::Store;
use api::Api;
use mapping::{Leerling, OuderVerzorger, Pupil, Slot};

/// The snapshot scope that holds the events feed's index.
const FEED_SCOPE: &str = "~events";

pub struct SomtodaySource {
    cfg: SomtodayConfig,
    api: Api,
    committer: Committer,
    sync: Option<mpsc::Sender<SyncMessage>>,
}

/// The students as last listed.
struct Roster {
    pupils: Vec<Pupil>,
    listed_at: Instant,
}

/// Per student: when their rooster was read, their class, their subjects' slots.
type Lessons = HashMap<String, (Instant, String, BTreeMap<String, BTreeSet<Slot>>)>;

impl SomtodaySource {
    pub fn new(
        cfg: &SomtodayConfig,
        ingestor: Arc<Ingestor>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sync: Option<mpsc::Sender<SyncMessage>>,
    ) -> Result<SomtodaySource, String> {
        let name = format!("somtoday {}", cfg.poll.name);
        let secret =
            crate::source::poll::read_secret("client_secret_file", &cfg.client_secret_file)
                .map_err(|e| format!("{name}: {e}"))?;
        Ok(SomtodaySource {
            api: Api::new(cfg, secret).map_err(|e| format!("somtoday {}: {e}", cfg.poll.name))?,
            committer: Committer::new(&cfg.poll, name.clone(), ingestor, store, clock),
            cfg: cfg.clone(),
            sync,
        })
    }

    pub fn name(&self) -> String {
        format!("somtoday {}", self.cfg.poll.name)
    }

    pub fn health(&self) -> Arc<SourceHealth> {
        self.committer.health.clone()
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.committer
            .ingestor
            .shared()
            .config()
            .policy(&self.cfg.poll.school)
            .map(|p| p.calendar.tz)
            .unwrap_or(chrono_tz::Europe::Amsterdam)
    }

    fn today(&self) -> NaiveDate {
        self.committer
            .clock
            .now()
            .with_timezone(&self.tz())
            .date_naive()
    }

    pub async fn serve(self, mut stop: watch::Receiver<bool>) {
        let name = self.name();
        let interval = self.cfg.poll.interval;
        let mut pace = Pace::new(interval);
        let mut roster: Option<Roster> = None;
        let mut lessons: Lessons = HashMap::new();
        let mut timetable_on = self.cfg.timetable;
        let mut sent_timetable: Option<Vec<TimetableEntry>> = None;
        // Students to read now: the rest of the current sweep, or those the feed named.
        let mut queue: VecDeque<Pupil> = VecDeque::new();
        let mut feed = Feed::new(self.cfg.events_feed, &self).await;
        loop {
            if roster
                .as_ref()
                .is_none_or(|r| r.listed_at.elapsed() >= self.cfg.students_interval)
            {
                match self.list().await {
                    Ok(r) => {
                        queue = r.pupils.iter().cloned().collect();
                        lessons.retain(|uuid, _| r.pupils.iter().any(|p| &p.uuid == uuid));
                        roster = Some(r);
                    }
                    Err(e) => {
                        self.failed(&name, &e);
                        if pace::sleep(pace.failed(&e), &mut stop).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let n = roster.as_ref().map_or(0, |r| r.pupils.len()).max(1);
            let step = interval / n as u32;
            if feed.enabled && queue.is_empty() {
                match feed.due(interval) {
                    false => {}
                    true => match self.feed_students(&mut feed, roster.as_ref()).await {
                        Ok(named) => queue.extend(named),
                        Err(e) => self.failed(&name, &e),
                    },
                }
            }
            let Some(pupil) = queue.front().cloned() else {
                // A round (or the students the feed named) done.
                if timetable_on {
                    self.send_timetable(&lessons, &mut sent_timetable).await;
                }
                if !feed.enabled {
                    queue = roster
                        .as_ref()
                        .map(|r| r.pupils.iter().cloned().collect())
                        .unwrap_or_default();
                } else if let Err(e) = feed.save(&self).await {
                    tracing::warn!(source = %name, error = %e, "cannot store the events index");
                }
                if queue.is_empty()
                    && pace::sleep(step.max(Duration::from_secs(1)), &mut stop).await
                {
                    break;
                }
                continue;
            };
            self.committer
                .health
                .set_lag(Some(queue.len() as u64), None);
            // The step counts from the start of a student's poll, so that a round takes
            // `interval`, however long the SIS takes to answer.
            let began = Instant::now();
            let wait = match self.student(&pupil, &mut lessons, &mut timetable_on).await {
                Ok(()) => {
                    queue.pop_front();
                    self.committer.health.set_connected(true);
                    pace.ok(step).saturating_sub(began.elapsed())
                }
                Err(e @ FetchError::Permanent(_)) => {
                    // This student's answer will not get better soon: on to the next one.
                    queue.pop_front();
                    self.failed(&name, &e);
                    pace.ok(step).saturating_sub(began.elapsed())
                }
                Err(e) => {
                    self.failed(&name, &e);
                    pace.failed(&e)
                }
            };
            if pace::sleep(wait, &mut stop).await {
                break;
            }
        }
        self.committer.health.set_connected(false);
        tracing::info!(source = %name, "source stopped");
    }

    fn failed(&self, name: &str, e: &FetchError) {
        self.committer.health.error(e);
        if matches!(e, FetchError::Unauthorized(_)) {
            self.committer.health.set_connected(false);
        }
        tracing::warn!(source = %name, error = %e, "SOMtoday request failed");
    }

    /// Reads the student list (and, for the directory, the guardians); forgets the
    /// snapshots of students no longer listed.
    async fn list(&self) -> Result<Roster, FetchError> {
        let today = self.today();
        let values = self
            .api
            .pages("leerling list", "/leerling", "leerlingen")
            .await?;
        let (leerlingen, bad): (Vec<Leerling>, _) = mapping::each(values, "leerling");
        let mut pupils: Vec<Pupil> = leerlingen
            .iter()
            .filter_map(|l| l.pupil(self.cfg.student_id, today))
            .collect();
        pupils.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        pupils.dedup_by(|a, b| a.uuid == b.uuid);
        if !bad.is_empty() {
            self.quarantine("~leerling", bad).await;
        }
        tracing::info!(source = %self.cfg.poll.name, students = pupils.len(), "SOMtoday students listed");
        if !pupils.is_empty() {
            self.forget_others(&pupils).await;
        }
        if self.cfg.directory {
            self.send_students(&leerlingen, today).await?;
        }
        Ok(Roster {
            pupils,
            listed_at: Instant::now(),
        })
    }

    async fn send_students(
        &self,
        leerlingen: &[Leerling],
        today: NaiveDate,
    ) -> Result<(), FetchError> {
        let Some(sync) = &self.sync else {
            return Ok(());
        };
        let values = self
            .api
            .pages("ouderVerzorger list", "/ouderVerzorger/", "ouderVerzorgers")
            .await?;
        let (guardians, bad): (Vec<OuderVerzorger>, _) = mapping::each(values, "ouderVerzorger");
        if !bad.is_empty() {
            self.quarantine("~ouderVerzorger", bad).await;
        }
        let (students, skipped) = mapping::students(
            &self.cfg.poll.school,
            self.cfg.student_id,
            leerlingen,
            &guardians,
            today,
        );
        if skipped > 0 {
            tracing::warn!(
                source = %self.cfg.poll.name,
                skipped,
                "students without a birth date (or the chosen id) are left out of the directory: grant geboortedatum"
            );
        }
        let _ = sync
            .send(SyncMessage::Part(DirectoryPart {
                source: self.cfg.poll.name.clone(),
                school: self.cfg.poll.school.clone(),
                students: Some(students),
                timetable: None,
                has_locale: false,
            }))
            .await;
        Ok(())
    }

    async fn send_timetable(&self, lessons: &Lessons, sent: &mut Option<Vec<TimetableEntry>>) {
        let Some(sync) = &self.sync else { return };
        if lessons.is_empty() {
            return;
        }
        let per: HashMap<String, (String, BTreeMap<String, BTreeSet<Slot>>)> = lessons
            .iter()
            .map(|(u, (_, class, slots))| (u.clone(), (class.clone(), slots.clone())))
            .collect();
        let t = mapping::timetable(&self.cfg.poll.school, &per);
        let same = sent
            .as_ref()
            .is_some_and(|s| serde_json::to_value(s).ok() == serde_json::to_value(&t).ok());
        if same {
            return;
        }
        let _ = sync
            .send(SyncMessage::Part(DirectoryPart {
                source: format!("{}-timetable", self.cfg.poll.name),
                school: self.cfg.poll.school.clone(),
                students: None,
                timetable: Some(t.clone()),
                has_locale: false,
            }))
            .await;
        *sent = Some(t);
    }

    /// One student: their grades diffed and committed, and their rooster when it is due.
    async fn student(
        &self,
        pupil: &Pupil,
        lessons: &mut Lessons,
        timetable_on: &mut bool,
    ) -> Result<(), FetchError> {
        let body = self
            .api
            .get(
                "voortgangsdossier",
                &format!("/leerling/{}/voortgangsdossier", pupil.uuid),
            )
            .await?;
        let g = mapping::grades(pupil, &body, self.cfg.report_averages);
        let fetched = Fetched {
            items: g.items,
            bad: g.bad,
            parts: if g.complete { None } else { Some(vec![]) },
            ..Fetched::default()
        };
        match self.committer.commit(&pupil.uuid, fetched).await {
            Ok(_) | Err(CommitError::Held { .. }) => {}
            Err(CommitError::Store(e)) => return Err(FetchError::transient(format!("store: {e}"))),
        }
        let stale = lessons.get(&pupil.uuid).is_none_or(|(at, class, _)| {
            at.elapsed() >= self.cfg.students_interval || *class != pupil.class
        });
        if *timetable_on && stale {
            match self.rooster(pupil).await {
                Ok(slots) => {
                    lessons.insert(
                        pupil.uuid.clone(),
                        (Instant::now(), pupil.class.clone(), slots),
                    );
                }
                Err(e @ FetchError::Transient { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(source = %self.cfg.poll.name, error = %e, "rooster not readable: no timetable from SOMtoday this run");
                    self.committer.health.error(&e);
                    *timetable_on = false;
                }
            }
        }
        Ok(())
    }

    /// This week's and next week's lessons of a student.
    async fn rooster(&self, pupil: &Pupil) -> Result<BTreeMap<String, BTreeSet<Slot>>, FetchError> {
        let today = self.today();
        let mut all: BTreeMap<String, BTreeSet<Slot>> = BTreeMap::new();
        for day in [today, today + Days::days(7)] {
            let week = day.iso_week().week();
            let body = self
                .api
                .get(
                    "rooster",
                    &format!("/leerling/{}/rooster?weeknummer={week}", pupil.uuid),
                )
                .await?;
            let slots = mapping::lessons(&body, self.tz())
                .map_err(|e| FetchError::Permanent(format!("rooster: {e}")))?;
            for (subject, s) in slots {
                all.entry(subject).or_default().extend(s);
            }
        }
        Ok(all)
    }

    /// The students the events feed names since its index (only students on the roster).
    async fn feed_students(
        &self,
        feed: &mut Feed,
        roster: Option<&Roster>,
    ) -> Result<Vec<Pupil>, FetchError> {
        let path = match feed.index {
            Some(i) => format!("/events?index={i}"),
            None => "/events".to_string(),
        };
        let events = match self.api.pages("events", &path, "").await {
            Ok(e) => e,
            Err(FetchError::Permanent(m)) => {
                tracing::warn!(
                    source = %self.cfg.poll.name,
                    error = %m,
                    "the SOMtoday events feed is not available (Connect 14.10 lists it as not yet \
                     implemented): polling every student instead"
                );
                feed.enabled = false;
                return Ok(vec![]);
            }
            Err(e) => return Err(e),
        };
        let Some(roster) = roster else {
            return Ok(vec![]);
        };
        let mut named: HashSet<&str> = HashSet::new();
        for e in &events {
            if let Some(i) = e.get("index").and_then(Value::as_i64) {
                feed.pending = Some(feed.pending.map_or(i, |p: i64| p.max(i)));
            }
            for p in &roster.pupils {
                let hit = e.get("entiteit_uuid").and_then(Value::as_str) == Some(p.uuid.as_str())
                    || e.get("url")
                        .and_then(Value::as_str)
                        .is_some_and(|u| u.contains(&p.uuid));
                if hit {
                    named.insert(p.uuid.as_str());
                }
            }
        }
        Ok(roster
            .pupils
            .iter()
            .filter(|p| named.contains(p.uuid.as_str()))
            .cloned()
            .collect())
    }

    async fn quarantine(&self, scope: &str, bad: Vec<crate::source::poll::BadInput>) {
        let fetched = Fetched {
            bad,
            parts: Some(vec![]),
            ..Fetched::default()
        };
        if let Err(e) = self.committer.commit(scope, fetched).await {
            tracing::warn!(source = %self.cfg.poll.name, error = %e, "cannot quarantine");
        }
    }

    /// Drops the snapshots of students who are no longer listed: nothing of theirs is kept.
    async fn forget_others(&self, pupils: &[Pupil]) {
        let snaps = self.committer.store.snapshots();
        let listed: HashSet<&str> = pupils.iter().map(|p| p.uuid.as_str()).collect();
        match snaps.snapshot_scopes(&self.cfg.poll.name).await {
            Ok(scopes) => {
                let gone: Vec<String> = scopes
                    .into_iter()
                    .filter(|s| !s.starts_with('~') && !listed.contains(s.as_str()))
                    .collect();
                if !gone.is_empty() {
                    tracing::info!(source = %self.cfg.poll.name, students = gone.len(), "forgetting students no longer listed");
                    if let Err(e) = snaps.drop_snapshot_scopes(&self.cfg.poll.name, &gone).await {
                        tracing::warn!(source = %self.cfg.poll.name, error = %e, "cannot forget students");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(source = %self.cfg.poll.name, error = %e, "cannot list snapshots")
            }
        }
    }
}

/// The events feed's state: its index is stored only once the students it named were read.
struct Feed {
    enabled: bool,
    index: Option<i64>,
    pending: Option<i64>,
    checked: Option<Instant>,
}

impl Feed {
    async fn new(enabled: bool, s: &SomtodaySource) -> Feed {
        let index = if enabled {
            s.committer
                .store
                .snapshots()
                .load_snapshot(&s.cfg.poll.name, FEED_SCOPE)
                .await
                .ok()
                .flatten()
                .and_then(|snap| snap.cursor)
                .and_then(|c| c.parse().ok())
        } else {
            None
        };
        Feed {
            enabled,
            index,
            pending: None,
            checked: None,
        }
    }

    fn due(&mut self, interval: Duration) -> bool {
        if self.checked.is_some_and(|c| c.elapsed() < interval) {
            return false;
        }
        self.checked = Some(Instant::now());
        true
    }

    async fn save(&mut self, s: &SomtodaySource) -> Result<(), crate::store::StoreError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let change = SnapshotChange {
            cursor: Some(p.to_string()),
            ..SnapshotChange::default()
        };
        s.committer
            .store
            .snapshots()
            .save_snapshot(
                &s.cfg.poll.name,
                FEED_SCOPE,
                &change,
                s.committer.clock.now(),
            )
            .await?;
        self.index = Some(p);
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::source::Source for SomtodaySource {
    fn name(&self) -> String {
        SomtodaySource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await;
        Ok(())
    }
}
