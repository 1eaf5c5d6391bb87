//! Choices made through another instance's page (several instances on one PostgreSQL
//! database): the store reports each one as it commits, and this instance loads the choices
//! again and re-plans that person's pending notices, as the instance that took the change
//! did. Without it a choice would reach the other instances' planning only at their next
//! start or reload. SQLite has one instance, and nothing to follow.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::ingest::Ingestor;
use crate::store::preference::ChoiceChanged;
use crate::store::{Store, StoreError};

/// Follows the choices other instances store until `stop`.
pub async fn run(
    store: Arc<dyn Store>,
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(mut changes) = store.preferences().changes_elsewhere() else {
        return;
    };
    loop {
        let change = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            c = changes.recv() => match c {
                Ok(c) => c,
                // Too many at once to tell whose: take them all.
                Err(RecvError::Lagged(_)) => ChoiceChanged::Any,
                Err(RecvError::Closed) => return,
            },
        };
        if let Err(e) = apply(&*store, &ingestor, &*clock, &change).await {
            // Planning goes on with the choices loaded before; the next change, reload or
            // start loads them again.
            tracing::warn!("a choice made elsewhere could not be applied here: {e}");
        }
    }
}

/// Loads every stored choice and re-plans whom the change concerns.
async fn apply(
    store: &dyn Store,
    ingestor: &Ingestor,
    clock: &dyn Clock,
    change: &ChoiceChanged,
) -> Result<(), StoreError> {
    super::load_choices(store, ingestor.shared()).await?;
    let now = clock.now();
    let replanned = match change {
        ChoiceChanged::Person { school, person } => {
            ingestor.replan_person(school, person, now).await?
        }
        ChoiceChanged::Any => ingestor.replan_all(now).await?,
    };
    // No ids or choices at info level: counts.
    tracing::info!(replanned, "preferences changed on another instance");
    Ok(())
}
