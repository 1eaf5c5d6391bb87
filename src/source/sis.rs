//! Starting the SIS sources of the config: the pollers and the directory they feed.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::sis::SisConfig;
use crate::ingest::Ingestor;
use crate::source::export::ExportSource;
use crate::source::health::SourceHealth;
use crate::source::Source;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SisSetupError(pub String);

/// The SIS sources, ready to run, and their health. Nothing is fetched yet: an unreachable
/// SIS does not stop rustig from starting (its health says so); a missing secret does.
pub fn sources(
    cfg: &SisConfig,
    ingestor: &Arc<Ingestor>,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
) -> Result<(Vec<Box<dyn Source>>, Vec<Arc<SourceHealth>>), SisSetupError> {
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    let mut health = Vec::new();
    for c in &cfg.export {
        let s = ExportSource::new(c, ingestor.clone(), store.clone(), clock.clone())
            .map_err(SisSetupError)?;
        health.push(s.health());
        sources.push(Box::new(s));
    }
    Ok((sources, health))
}
