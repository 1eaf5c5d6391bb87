//! The release path on a manual clock: an in-memory SQLite store, the ingestor and the real
//! dispatcher, with the channels a test brings. `tests/delivery.rs` and `tests/scheduler.rs`
//! wrap it with their own channels and helpers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustig::clock::{Clock, ManualClock};
use rustig::config::Config;
use rustig::ingest::{Accepted, Ingestor, Shared};
use rustig::model::Directory;
use rustig::render::Renderer;
use rustig::scheduler::Dispatcher;
use rustig::send::Channels;
use rustig::store::sqlite::SqliteStore;
use rustig::store::{Store, StoredNotice};

/// An RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub struct Release {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub shared: Arc<Shared>,
    pub ingestor: Ingestor,
    pub dispatcher: Dispatcher,
}

impl Release {
    /// `observe` lets a test add an observer to the dispatcher before it is shared.
    pub async fn new(
        config: Config,
        directory: Directory,
        channels: Channels,
        start: &str,
        observe: impl FnOnce(Dispatcher) -> Dispatcher,
    ) -> Release {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().await.unwrap());
        let clock = Arc::new(ManualClock::new(at(start)));
        let shared = Shared::new(config, directory);
        let dispatcher = observe(Dispatcher::new(
            store.clone(),
            shared.clone(),
            channels,
            Arc::new(Renderer::builtin()),
            clock.clone(),
        ));
        Release {
            ingestor: Ingestor::new(store.clone(), shared.clone()),
            store,
            clock,
            shared,
            dispatcher,
        }
    }

    /// Ingests one new event at the clock's time.
    pub async fn ingest(&self, raw: &str) {
        let r = self
            .ingestor
            .ingest(&[raw.as_bytes()], "test", self.clock.now())
            .await
            .unwrap();
        assert!(matches!(r[0], Accepted::New { .. }), "{r:?}");
    }

    /// Moves the clock to `t` and sends what is due; returns how many messages went out.
    pub async fn tick(&self, t: DateTime<Utc>) -> usize {
        self.clock.set(t);
        self.dispatcher
            .run_due(self.clock.now(), None)
            .await
            .unwrap()
    }

    pub async fn notices(&self, event: &str) -> Vec<StoredNotice> {
        self.store.notices_of_event(event).await.unwrap()
    }
}
