//! The IO around [`diff`](super::diff): load a scope's snapshot, diff, commit the events
//! (and quarantined input) through the normal ingest, then commit the new snapshot. A crash
//! between the two commits repeats the same event ids at the next poll; ingest drops them.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::sis::PollConfig;
use crate::ingest::Ingestor;
use crate::model::{Event, EventError};
use crate::source::health::SourceHealth;
use crate::store::{Store, StoreError};

use super::diff::{diff, Counts, Diff, DiffInput, Verdict};
use super::Fetched;

/// Events (and quarantined inputs) per ingest transaction.
const BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{source_name}: this poll would withdraw {withdrawing} of {live} items at once, more \
         than withdraw_limit allows; nothing was applied (a truncated export? a SIS answering \
         with half its data?). If it is real, raise withdraw_limit for one poll"
    )]
    Held {
        source_name: String,
        withdrawing: usize,
        live: usize,
    },
}

/// Commits one source's polls.
pub struct Committer {
    /// The source's name: event id prefix, quarantine source, snapshot key.
    pub source: String,
    pub school: String,
    pub baseline: bool,
    pub withdraw_limit: f64,
    pub ingestor: Arc<Ingestor>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<SourceHealth>,
}

impl Committer {
    /// The committer of the poller `poll`, reporting its health as `health_name`.
    pub fn new(
        poll: &PollConfig,
        health_name: String,
        ingestor: Arc<Ingestor>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Committer {
        Committer {
            source: poll.name.clone(),
            school: poll.school.clone(),
            baseline: poll.baseline,
            withdraw_limit: poll.withdraw_limit,
            ingestor,
            store,
            clock,
            health: SourceHealth::new(health_name),
        }
    }

    /// Diffs `fetched` against the scope's snapshot and commits what changed.
    pub async fn commit(&self, scope: &str, fetched: Fetched) -> Result<Counts, CommitError> {
        let snaps = self.store.snapshots();
        let old = snaps.load_snapshot(&self.source, scope).await?;
        let now = self.clock.now();
        let input = DiffInput {
            source: &self.source,
            school: &self.school,
            scope,
            now,
            baseline: self.baseline,
            withdraw_limit: self.withdraw_limit,
        };
        match diff(old.as_ref(), fetched, &input) {
            Verdict::Held { withdrawing, live } => {
                let e = CommitError::Held {
                    source_name: self.source.clone(),
                    withdrawing,
                    live,
                };
                tracing::warn!(source = %self.source, withdrawing, live, "poll held: too many items vanished at once");
                self.health.error(&e);
                Err(e)
            }
            Verdict::Reset { forgotten } => {
                tracing::warn!(
                    source = %self.source,
                    forgotten,
                    "a scope came back empty: forgotten without events; its next poll is a \
                     baseline (a new school year, an emptied export?)"
                );
                snaps
                    .drop_snapshot_scopes(&self.source, &[scope.to_string()])
                    .await?;
                Ok(Counts::default())
            }
            Verdict::Apply(d) => {
                let counts = d.counts;
                let unchanged_scope = old.is_some() && d.change.is_empty();
                self.emit(&d).await?;
                if !unchanged_scope {
                    snaps
                        .save_snapshot(&self.source, scope, &d.change, now)
                        .await?;
                }
                self.health.batch_acked(counts.events(), now);
                if counts.events() > 0 || counts.quarantined > 0 {
                    tracing::info!(
                        source = %self.source,
                        new = counts.new,
                        changed = counts.changed,
                        withdrawn = counts.withdrawn,
                        quarantined = counts.quarantined,
                        "changes from the SIS committed"
                    );
                }
                tracing::debug!(source = %self.source, scope, ?counts, "scope polled");
                Ok(counts)
            }
        }
    }

    /// Commits a diff's events and quarantined input (the first of the two commits).
    pub async fn emit(&self, d: &Diff) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut raws: Vec<Vec<u8>> = Vec::with_capacity(d.quarantine.len() + d.events.len());
        let mut parsed: Vec<Result<Event, EventError>> = Vec::with_capacity(raws.capacity());
        for b in &d.quarantine {
            raws.push(b.raw.clone());
            parsed.push(Err(EventError {
                field: b.field.clone(),
                message: format!("{}: {}", b.place, b.message),
            }));
        }
        for e in &d.events {
            raws.push(e.to_json().into_bytes());
            parsed.push(Ok(e.clone()));
        }
        let mut parsed = parsed.into_iter();
        for chunk in raws.chunks(BATCH) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            let part: Vec<_> = parsed.by_ref().take(chunk.len()).collect();
            self.ingestor
                .ingest_parsed(&refs, part, &self.source, now)
                .await?;
        }
        Ok(())
    }

    /// The diff a poll would commit, without committing it (tests, tools).
    pub async fn plan(&self, scope: &str, fetched: Fetched) -> Result<Verdict, StoreError> {
        let old = self
            .store
            .snapshots()
            .load_snapshot(&self.source, scope)
            .await?;
        Ok(diff(
            old.as_ref(),
            fetched,
            &DiffInput {
                source: &self.source,
                school: &self.school,
                scope,
                now: self.clock.now(),
                baseline: self.baseline,
                withdraw_limit: self.withdraw_limit,
            },
        ))
    }
}
