//! `[[ingest.export]]`: a folder (or an HTTPS URL) where the school's SIS drops CSV exports,
//! Magister's above all. Each complete export is the whole truth for its source: it is
//! diffed against the last one read, row by row, like the API pollers.

pub mod directory;
pub mod file;
pub mod mapping;
pub mod table;

use std::sync::Arc;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::sis::ExportConfig;
use crate::ingest::Ingestor;
use crate::source::health::SourceHealth;
use crate::source::poll::commit::{CommitError, Committer};
use crate::source::poll::fetch::FetchError;
use crate::source::poll::pace::{self, Pace};
use crate::source::poll::Fetched;
use crate::store::Store;
use file::{FileWatch, Found};

/// The snapshot scope of an export source: one, the latest file.
pub const SCOPE: &str = "export";

pub struct ExportSource {
    cfg: ExportConfig,
    watch: FileWatch,
    committer: Committer,
}

impl ExportSource {
    pub fn new(
        cfg: &ExportConfig,
        ingestor: Arc<Ingestor>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<ExportSource, String> {
        let watch = FileWatch::new(cfg.file.clone())
            .map_err(|e| format!("export {}: {e}", cfg.poll.name))?;
        Ok(ExportSource {
            committer: Committer::new(
                &cfg.poll,
                format!("export {}", cfg.poll.name),
                ingestor,
                store,
                clock,
            ),
            cfg: cfg.clone(),
            watch,
        })
    }

    pub fn name(&self) -> String {
        format!("export {}", self.cfg.poll.name)
    }

    pub fn health(&self) -> Arc<SourceHealth> {
        self.committer.health.clone()
    }

    /// Looks for a new export every interval until `stop`.
    pub async fn serve(mut self, mut stop: watch::Receiver<bool>) {
        let name = self.name();
        let mut pace = Pace::new(self.cfg.poll.interval);
        let mut done: Option<String> = match self
            .committer
            .store
            .snapshots()
            .load_snapshot(&self.cfg.poll.name, SCOPE)
            .await
        {
            Ok(s) => s.and_then(|s| s.cursor),
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "cannot read the last snapshot; will retry");
                None
            }
        };
        let mut complained: Option<String> = None;
        loop {
            let wait = match self.once(&mut done, &mut complained).await {
                Ok(()) => pace.ok(self.cfg.poll.interval),
                Err(e) => {
                    self.committer.health.error(&e);
                    tracing::warn!(source = %name, error = %e, "export not read");
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

    /// One look at the folder (or download): reads, diffs and commits a new complete export.
    async fn once(
        &mut self,
        done: &mut Option<String>,
        complained: &mut Option<String>,
    ) -> Result<(), FetchError> {
        let found = self.watch.next(done.as_deref()).await?;
        self.committer.health.set_connected(true);
        let f = match found {
            Found::File(f) => f,
            Found::Waiting(name) => {
                tracing::debug!(source = %self.cfg.poll.name, file = %name, "export still being written");
                return Ok(());
            }
            Found::Nothing | Found::Same => return Ok(()),
        };
        let config = self.committer.ingestor.shared().config();
        let tz = config
            .policy(&self.cfg.poll.school)
            .map(|p| p.calendar.tz)
            .unwrap_or(chrono_tz::Europe::Amsterdam);
        let table = match table::read(&f.name, &f.bytes, &self.cfg.file.csv, &self.cfg.columns) {
            Ok(t) => t,
            Err(refused) => {
                if complained.as_deref() != Some(f.identity.as_str()) {
                    tracing::warn!(source = %self.cfg.poll.name, "{refused}");
                    *complained = Some(f.identity.clone());
                }
                self.committer.health.error(&refused);
                return Ok(());
            }
        };
        let rows = table.rows.len();
        let (items, bad) = mapping::items(&self.cfg, tz, &f.name, table);
        let fetched = Fetched {
            items,
            bad,
            cursor: Some(f.identity.clone()),
            ..Fetched::default()
        };
        match self.committer.commit(SCOPE, fetched).await {
            Ok(counts) => {
                tracing::info!(
                    source = %self.cfg.poll.name,
                    file = %f.name,
                    rows,
                    new = counts.new,
                    changed = counts.changed,
                    withdrawn = counts.withdrawn,
                    quarantined = counts.quarantined,
                    "export read"
                );
                *done = Some(f.identity);
                Ok(())
            }
            Err(CommitError::Held { .. }) => Ok(()),
            Err(CommitError::Store(e)) => Err(FetchError::transient(format!("store: {e}"))),
        }
    }
}

#[async_trait::async_trait]
impl crate::source::Source for ExportSource {
    fn name(&self) -> String {
        ExportSource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await;
        Ok(())
    }
}
