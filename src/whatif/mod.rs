//! The what-if: a candidate config tried against the store before it goes live. It answers,
//! without changing anything, whether the candidate passes `check` (every error, with its
//! line), and what it would change: the pending buffer re-planned under it ([`replan`]), the
//! events of the last days replayed under both configs ([`replay`]), each compared notice by
//! notice ([`diff`]), with the week-ahead chart and the calm figures under both
//! ([`charts`]). Applying the candidate is a separate, audited action ([`apply`]).
//!
//! `POST /v1/whatif`, `POST /v1/whatif/apply` (src/admin/whatif.rs), the dashboard's form and
//! `rustig whatif` all come here.

pub mod apply;
pub mod candidate;
pub mod charts;
pub mod diff;
pub mod replan;
pub mod replay;
pub mod summary;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use apply::{apply, Applied, ApplyCtx, ApplyError};
pub use candidate::{CandidateError, Refused};
pub use diff::{Counts, Diff};

use crate::config::Config;
use crate::model::reachability::GoneSet;
use crate::model::{Directory, Event};
use crate::shared::Shared;
use crate::store::{Store, StoreError};

/// Days of events replayed when none are asked for.
pub const DEFAULT_DAYS: u32 = 14;
/// At most this many days (events' contents are kept `[retention] events`, 120 days by default).
pub const MAX_DAYS: u32 = 60;

/// What a what-if reads: the store, and the config and directory in force.
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub shared: Arc<Shared>,
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// For a command without the daemon (`rustig whatif`): the config in force and the
    /// directory it plans with (its file, else the stored one; the families' choices and gone
    /// contacts from the store), read only.
    pub async fn open(
        current: Config,
        store: Arc<dyn Store>,
        now: DateTime<Utc>,
    ) -> Result<Ctx, WhatIfError> {
        let dir = match &current.directory_file {
            Some(path) => crate::reload::read_directory(path)
                .map_err(|e| WhatIfError::Directory(e.to_string()))?,
            None => match store.load_directory().await? {
                Some(json) => Directory::parse(json.as_bytes())
                    .map_err(|e| WhatIfError::Directory(e.to_string()))?,
                None => Directory::default(),
            },
        };
        let shared = Shared::new(current, dir);
        shared.set_choices(crate::model::preference::choices_of(
            store.preferences().all_choices().await?,
        ));
        shared.set_gone(GoneSet::new(&store.gone_contacts().await?));
        Ok(Ctx { store, shared, now })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// Too large, not text, or with errors (every one, with its line).
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("days = {0}: give 1 to {MAX_DAYS} / days = {0}: geef 1 tot {MAX_DAYS}")]
    Days(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the directory in force: {0}")]
    Directory(String),
}

/// The answer of a what-if.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhatIfReport {
    /// When it was computed (RFC 3339, in the config's zone).
    pub now: String,
    /// Days of events replayed, up to `now`.
    pub days: u32,
    /// From when events were replayed.
    pub from: String,
    /// SHA-256 of the config in force (pass it back to `POST /v1/whatif/apply` as
    /// `base_sha256` to apply only on top of this one).
    pub current_sha256: String,
    pub candidate_sha256: String,
    /// Keys the candidate changes that a reload does not apply (listeners, store, channels):
    /// `apply` refuses such a candidate; change those in the file and restart.
    pub restart_only: Vec<String>,
    /// The pending buffer re-planned at `now` under each config, notice by notice.
    pub pending: Diff,
    /// The events of the last `days` replayed under each config, notice by notice: when each
    /// notice went (or would go) out.
    pub replay: ReplayDiff,
    /// The rules in plain language under each config, a paragraph per school, as
    /// `rustig check` says them.
    pub rules: RulesPair,
    /// Per school: the week ahead and the calm figures under each config.
    pub schools: Vec<charts::SchoolCharts>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayDiff {
    /// Stored events replayed (those of schools the config knows).
    pub events: u32,
    pub diff: Diff,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulesPair {
    pub before: String,
    pub after: String,
}

/// Tries `candidate` (the TOML's bytes) against the store: nothing is written.
pub async fn run(ctx: &Ctx, candidate: &[u8], days: u32) -> Result<WhatIfReport, WhatIfError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(WhatIfError::Days(days));
    }
    let started = std::time::Instant::now();
    let current = ctx.shared.config();
    // Relative paths in the candidate resolve as they would in the file it replaces.
    let (candidate, _) = candidate::read(&current.file, candidate)?;
    let now = ctx.now;
    let from = now - Duration::days(i64::from(days));
    let records = replan::load(&*ctx.store).await?;
    // Events may be stamped up to a day ahead of their arrival (DESIGN.md).
    let events = ctx
        .store
        .whatif()
        .events_between(from, now + crate::store::whatif::SKEW)
        .await?;
    let chosen = ctx.shared.chosen_directory();
    let gone = ctx.shared.gone();
    let inputs = Inputs {
        current,
        candidate,
        chosen,
        gone,
        now,
        from,
        days,
        records,
        events,
    };
    let read = started.elapsed();
    // CPU work, off the runtime's workers.
    let report = tokio::task::spawn_blocking(move || compare(&inputs))
        .await
        .expect("the what-if does not panic");
    tracing::debug!(
        read_ms = read.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        events = report.replay.events,
        pending = report.pending.before,
        "what-if answered"
    );
    Ok(report)
}

/// Everything a what-if compares, read up front.
pub struct Inputs {
    pub current: Arc<Config>,
    pub candidate: Config,
    /// The directory as listed, with the families' choices.
    pub chosen: Arc<Directory>,
    /// Contacts marked gone now (the pending buffer is planned without them).
    pub gone: Arc<GoneSet>,
    pub now: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub days: u32,
    pub records: Vec<replan::PendingRecord>,
    pub events: Vec<Event>,
}

/// The directory `config` plans with, as the daemon derives it ([`Shared::directory`]).
pub fn planning_directory(
    config: &Config,
    chosen: &Directory,
    gone: Option<&GoneSet>,
) -> Arc<Directory> {
    let shared = Shared::new(config.clone(), chosen.clone());
    if let Some(g) = gone {
        shared.set_gone(g.clone());
    }
    shared.directory()
}

/// The pure part: both plans and both replays, compared. The two configs run side by side.
pub fn compare(i: &Inputs) -> WhatIfReport {
    let (current, candidate) = (&*i.current, &i.candidate);
    let one = |config: &Config| {
        let dir = planning_directory(config, &i.chosen, Some(&i.gone));
        let (fates, planned) = replan::replan(config, &dir, i.now, &i.records);
        // The past as `simulate` replays it: the directory without today's gone marks.
        let dir = planning_directory(config, &i.chosen, None);
        let replayed = replay::replay(config, &dir, &i.events, None);
        (fates, planned, replayed)
    };
    let (before, after) = std::thread::scope(|s| {
        let after = s.spawn(|| one(candidate));
        let before = one(current);
        (
            before,
            after.join().expect("the candidate's replay does not panic"),
        )
    });
    let (pending_before, planned_before, replay_before) = before;
    let (pending_after, planned_after, replay_after) = after;
    let tz = current.default_policy.calendar.tz;
    let schools = schools(i);
    let report = WhatIfReport {
        now: crate::simulate::local_rfc3339(i.now, tz),
        days: i.days,
        from: crate::simulate::local_rfc3339(i.from, tz),
        current_sha256: current.sha256.clone(),
        candidate_sha256: candidate.sha256.clone(),
        restart_only: crate::reload::restart_only_changes(current, candidate)
            .into_iter()
            .map(str::to_string)
            .collect(),
        pending: diff::diff(&pending_before, &pending_after),
        replay: ReplayDiff {
            events: replay_before.events.max(replay_after.events) as u32,
            diff: diff::diff(&replay_before.fates, &replay_after.fates),
        },
        rules: RulesPair {
            before: current.summary(),
            after: candidate.summary(),
        },
        schools: charts::build(
            current,
            candidate,
            &schools,
            i.now,
            i.from,
            (&planned_before, &planned_after),
            (&replay_before.messages, &replay_after.messages),
        ),
    };
    replay::drop_later((
        pending_before,
        planned_before,
        replay_before,
        pending_after,
        planned_after,
        replay_after,
    ));
    report
}

/// The schools to chart: those either config names, else those the buffer and events name.
fn schools(i: &Inputs) -> Vec<String> {
    let mut out: BTreeSet<String> = i
        .current
        .schools
        .keys()
        .chain(i.candidate.schools.keys())
        .cloned()
        .collect();
    if out.is_empty() {
        out.extend(i.records.iter().map(|r| r.event.school.clone()));
        out.extend(i.events.iter().map(|e| e.school.clone()));
    }
    out.into_iter().collect()
}
