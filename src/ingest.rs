//! From raw bytes to planned notices, one transaction per batch: validate, dedupe by event id,
//! quarantine bad input, keep each record's newest version, and (re-)plan its notices.
//!
//! Sources call [`Ingestor::ingest`] and acknowledge only after it returns `Ok`.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::config::Config;
use crate::config::Fallback;
use crate::model::{Directory, Event, EventBody, EventError};
use crate::policy::{plan, Facts, Plan};
use crate::send::gone::{push_first, GoneSet};
use crate::store::{Current, Store, StoreError, Tx};

/// The config and directory in force; both can be swapped while running.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    views: RwLock<Views>,
    /// Wakes the scheduler when new notices may be due sooner than it thinks.
    pub wake: Notify,
}

/// The directory as imported and the two views derived from it, swapped together.
struct Views {
    listed: Arc<Directory>,
    gone: Arc<GoneSet>,
    /// Less the gone contacts: whom messages can reach.
    sending: Arc<Directory>,
    /// Also less the email contacts held back as fallback (`[delivery] fallback = "email"`
    /// for people with a push contact): whom the planner plans for.
    planning: Arc<Directory>,
}

impl Views {
    fn new(listed: Arc<Directory>, gone: Arc<GoneSet>, config: &Config) -> Views {
        let sending = gone
            .apply(&listed)
            .map(Arc::new)
            .unwrap_or_else(|| listed.clone());
        let planning = if config.delivery.fallback == Fallback::Email {
            push_first(&sending)
                .map(Arc::new)
                .unwrap_or_else(|| sending.clone())
        } else {
            sending.clone()
        };
        Views {
            listed,
            gone,
            sending,
            planning,
        }
    }
}

impl Shared {
    pub fn new(config: Config, directory: Directory) -> Arc<Shared> {
        let views = Views::new(Arc::new(directory), Arc::default(), &config);
        Arc::new(Shared {
            config: RwLock::new(Arc::new(config)),
            views: RwLock::new(views),
            wake: Notify::new(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    /// The directory the planner sees: as imported, less gone contacts and fallback-only
    /// email addresses.
    pub fn directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").planning.clone()
    }

    /// The directory messages are sent with: as imported, less gone contacts.
    pub fn sending_directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").sending.clone()
    }

    /// The directory as imported.
    pub fn listed_directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").listed.clone()
    }

    /// Contacts marked gone.
    pub fn gone(&self) -> Arc<GoneSet> {
        self.views.read().expect("directory lock").gone.clone()
    }

    pub fn set_config(&self, c: Config) {
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(views.listed.clone(), views.gone.clone(), &c);
        *self.config.write().expect("config lock") = Arc::new(c);
    }

    pub fn set_directory(&self, d: Directory) {
        let config = self.config();
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(Arc::new(d), views.gone.clone(), &config);
    }

    pub fn set_gone(&self, gone: GoneSet) {
        let config = self.config();
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(views.listed.clone(), Arc::new(gone), &config);
    }
}

/// What became of one submitted event.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Stored and planned.
    New { id: String },
    /// Its id was already stored; nothing changed.
    Duplicate { id: String },
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
}

impl Ingestor {
    pub fn new(store: Arc<dyn Store>, shared: Arc<Shared>) -> Ingestor {
        Ingestor {
            store,
            shared,
            observer: None,
        }
    }

    pub fn observe(mut self, f: PlanObserver) -> Ingestor {
        self.observer = Some(f);
        self
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Ingests raw events (one JSON object each) in one transaction. When this returns `Ok`
    /// every event is durably committed or quarantined.
    pub async fn ingest(
        &self,
        raws: &[&[u8]],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Accepted>, StoreError> {
        let config = self.shared.config();
        let parsed: Vec<Result<Event, EventError>> = raws
            .iter()
            .map(|raw| Event::parse(raw).and_then(|e| check_school(&config, e)))
            .collect();
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
        let mut tx = self.store.begin().await?;
        let mut out = Vec::with_capacity(parsed.len());
        for (raw, item) in raws.iter().zip(parsed) {
            match item {
                Err(error) => {
                    tx.quarantine(source, &error.to_string(), raw, now).await?;
                    // The message may quote the input; only the field is logged.
                    tracing::warn!(source, field = %error.field, "event rejected and quarantined");
                    out.push(Accepted::Rejected { error });
                }
                Ok(event) => {
                    out.push(apply(&mut *tx, &event, &config, &dir, now, &self.observer).await?)
                }
            }
        }
        tx.commit().await?;
        self.shared.wake.notify_one();
        Ok(out)
    }

    /// Re-plans every record with pending notices (after a config or directory change).
    pub async fn replan_all(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let config = self.shared.config();
        let dir = self.shared.directory();
        let records = self.store.pending_records().await?;
        let total = records.len();
        for (i, chunk) in records.chunks(500).enumerate() {
            if i % 20 == 19 {
                tracing::info!(done = i * 500, total, "re-planning pending notices");
            }
            let mut tx = self.store.begin().await?;
            for (school, record) in chunk {
                if let Some(cur) = tx.current(school, record).await? {
                    if let Some(event) = tx.event(&cur.event_id).await? {
                        replan(&mut *tx, &event, &config, &dir, now, &self.observer).await?;
                    }
                }
            }
            tx.commit().await?;
        }
        self.shared.wake.notify_one();
        Ok(records.len())
    }
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

async fn apply(
    tx: &mut dyn Tx,
    event: &Event,
    config: &Config,
    dir: &Directory,
    now: DateTime<Utc>,
    observer: &Option<PlanObserver>,
) -> Result<Accepted, StoreError> {
    let id = event.id.clone();
    if !tx.insert_event(event, now).await? {
        return Ok(Accepted::Duplicate { id });
    }
    if let EventBody::AssessmentReleased { .. } = &event.body {
        let key = event.release_key().expect("releases have a key");
        tx.record_release(&event.school, &key, event.occurred_utc())
            .await?;
        for record in tx.records_waiting_for(&event.school, &key).await? {
            if let Some(cur) = tx.current(&event.school, &record).await? {
                if let Some(grade) = tx.event(&cur.event_id).await? {
                    replan(tx, &grade, config, dir, now, observer).await?;
                }
            }
        }
        return Ok(Accepted::New { id });
    }
    let cur = tx.current(&event.school, &event.record).await?;
    if cur
        .as_ref()
        .is_some_and(|c| c.occurred_at > event.occurred_utc())
    {
        // Out of order: a newer version of this record is already in force.
        return Ok(Accepted::Stale { id });
    }
    let current = Current {
        event_id: event.id.clone(),
        occurred_at: event.occurred_utc(),
    };
    tx.set_current(&event.school, &event.record, &current)
        .await?;
    replan(tx, event, config, dir, now, observer).await?;
    Ok(Accepted::New { id })
}

/// Plans `event` (the record's current version) and replaces the record's pending notices.
pub async fn replan(
    tx: &mut dyn Tx,
    event: &Event,
    config: &Config,
    dir: &Directory,
    now: DateTime<Utc>,
    observer: &Option<PlanObserver>,
) -> Result<Plan, StoreError> {
    let Some(policy) = config.policy(&event.school) else {
        return Ok(Plan::default());
    };
    let released_at = match (&event.body, event.release_key()) {
        (EventBody::GradeEntered { .. }, Some(key)) => tx.released_at(&event.school, &key).await?,
        _ => None,
    };
    let delivered = tx.delivered(&event.school, &event.record).await?;
    let facts = Facts {
        released_at,
        delivered: &delivered,
    };
    let p = plan(event, &facts, dir, policy, now);
    for s in &p.suppressed {
        tracing::debug!(event = %s.event_id, recipient = ?s.recipient, rule = s.rule, "suppressed: {}", s.why);
    }
    if let Some(obs) = observer {
        obs(event, &p, now);
    }
    tx.replace_pending(&event.school, &event.record, &p.notices)
        .await?;
    Ok(p)
}
