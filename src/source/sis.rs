//! Starting the SIS sources of the config: the pollers, and the directory sync they feed.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::sis::SisConfig;
use crate::ingest::Ingestor;
use crate::source::export::directory::DirectoryExportSource;
use crate::source::export::ExportSource;
use crate::source::health::SourceHealth;
use crate::source::sis_directory::{DirectorySync, SyncMessage};
use crate::source::smartschool::SmartschoolSource;
use crate::source::somtoday::SomtodaySource;
use crate::source::Source;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SisSetupError(pub String);

/// The SIS sources, ready to run.
pub struct Sis {
    pub sources: Vec<Box<dyn Source>>,
    pub health: Vec<Arc<SourceHealth>>,
    /// Merges what the sources know of the directory; to be run next to them.
    pub sync: Option<DirectorySync>,
    /// Tells the sync (a reload replaced the directory: apply the SIS parts again).
    pub sync_tx: Option<mpsc::Sender<SyncMessage>>,
}

/// Sets up the SIS sources. Nothing is fetched yet: an unreachable SIS does not stop rustig
/// from starting (its health says so); a missing secret does.
pub fn start(
    cfg: &SisConfig,
    ingestor: &Arc<Ingestor>,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
) -> Result<Sis, SisSetupError> {
    let mut part_sources: Vec<String> = Vec::new();
    for c in &cfg.somtoday {
        if c.directory {
            part_sources.push(c.poll.name.clone());
        }
        if c.timetable {
            part_sources.push(format!("{}-timetable", c.poll.name));
        }
    }
    if let Some(d) = &cfg.directory {
        part_sources.extend(DirectoryExportSource::part_sources(&d.name));
    }
    let (sync, sync_tx) = if part_sources.is_empty() {
        (None, None)
    } else {
        let (s, tx) =
            DirectorySync::new(store.clone(), ingestor.clone(), clock.clone(), part_sources);
        (Some(s), Some(tx))
    };
    let mut out = Sis {
        sources: Vec::new(),
        health: Vec::new(),
        sync,
        sync_tx: sync_tx.clone(),
    };
    let e = SisSetupError;
    for c in &cfg.somtoday {
        let s = SomtodaySource::new(
            c,
            ingestor.clone(),
            store.clone(),
            clock.clone(),
            sync_tx.clone(),
        )
        .map_err(e)?;
        out.health.push(s.health());
        out.sources.push(Box::new(s));
    }
    for c in &cfg.smartschool {
        let s =
            SmartschoolSource::new(c, ingestor.clone(), store.clone(), clock.clone()).map_err(e)?;
        out.health.push(s.health());
        out.sources.push(Box::new(s));
    }
    for c in &cfg.export {
        let s = ExportSource::new(c, ingestor.clone(), store.clone(), clock.clone()).map_err(e)?;
        out.health.push(s.health());
        out.sources.push(Box::new(s));
    }
    if let (Some(c), Some(tx)) = (&cfg.directory, &sync_tx) {
        let s = DirectoryExportSource::new(
            c,
            ingestor.clone(),
            store.clone(),
            clock.clone(),
            tx.clone(),
        )
        .map_err(e)?;
        out.health.push(s.health());
        out.sources.push(Box::new(s));
    }
    Ok(out)
}
