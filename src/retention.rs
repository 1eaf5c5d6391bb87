//! The purge loop and the erasure of one student (AVG), around the store's
//! [`Retention`](crate::store::retention::Retention) functions.
//!
//! The purge takes `[retention] batch` rows per transaction and pauses briefly between
//! transactions, so that on SQLite's single connection a release never waits for more than
//! one small transaction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::shared::Shared;
use crate::store::audit::AuditEntry;
use crate::store::retention::Erased;
use crate::store::{Store, StoreError};

/// The pause between two purge transactions.
const PAUSE: Duration = Duration::from_millis(20);

/// Rows purged by one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub notices: u64,
    pub events: u64,
    pub quarantine: u64,
    pub audit: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.notices + self.events + self.quarantine + self.audit
    }
}

/// Before which instant each kind of row goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub notices: DateTime<Utc>,
    pub events: DateTime<Utc>,
    pub quarantine: DateTime<Utc>,
    pub audit: DateTime<Utc>,
}

impl Cutoffs {
    pub fn at(now: DateTime<Utc>, cfg: &RetentionConfig) -> Cutoffs {
        let back = |d: chrono::Duration| {
            now.checked_sub_signed(d)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        Cutoffs {
            notices: back(cfg.notices),
            events: back(cfg.events),
            quarantine: back(cfg.quarantine),
            audit: back(cfg.audit),
        }
    }
}

/// Purges everything past its period, batch by batch, until nothing is left to purge.
/// Notices go first, so that their events may follow in the same run.
pub async fn purge_once(
    store: &dyn Store,
    cfg: &RetentionConfig,
    now: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    let cut = Cutoffs::at(now, cfg);
    let r = store.retention();
    let batch = cfg.batch.max(1);
    Ok(Purged {
        notices: drain(batch, || r.purge_notices(cut.notices, batch)).await?,
        events: drain(batch, || r.purge_events(cut.events, now, batch)).await?,
        quarantine: drain(batch, || r.purge_quarantine(cut.quarantine, batch)).await?,
        audit: drain(batch, || store.audit().purge_audit(cut.audit, batch)).await?,
    })
}

/// Calls `step` until it purges less than a full batch; returns the total.
async fn drain<F, Fut>(batch: u32, mut step: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        if n < u64::from(batch) {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Runs the purge at start and then every `[retention] interval` (read again after a
/// reload) until `stop`.
pub async fn run(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let cfg = shared.config().retention.clone();
        let now = clock.now();
        tokio::select! {
            r = purge_once(&*store, &cfg, now) => match r {
                Ok(p) if p.total() > 0 => tracing::info!(
                    notices = p.notices,
                    events = p.events,
                    quarantine = p.quarantine,
                    audit = p.audit,
                    "retention: purged what passed its period"
                ),
                Ok(_) => tracing::debug!("retention: nothing to purge"),
                Err(e) => tracing::warn!(error = %e, "retention: purge failed; trying again next interval"),
            },
            _ = stopped(&mut stop) => return,
        }
        let next =
            now + chrono::Duration::from_std(cfg.interval).unwrap_or(chrono::Duration::hours(1));
        tokio::select! {
            _ = clock.sleep_until(next) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Erases one student's data from the store (see
/// [`Retention::erase_student`](crate::store::retention::Retention::erase_student)) and
/// writes the audit line `student.erase` with what was removed. `actor` as the audit trail
/// names actors: `cli:<unix user>`, `admin:<token name>`.
pub async fn erase_student(
    store: &dyn Store,
    student: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Erased, StoreError> {
    let erased = store.retention().erase_student(student).await?;
    // Events that waited for this student in the directory name them too.
    store.unresolved().forget_student(student).await?;
    let after = serde_json::to_value(erased).expect("counts serialize");
    let entry = AuditEntry::new(now, actor, "student.erase", format!("student:{student}"))
        .change(None, Some(after));
    store.audit().append(&entry).await?;
    tracing::info!(
        actor,
        events = erased.events,
        notices = erased.notices,
        "a student's data was erased on request"
    );
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_go_back_by_each_period() {
        let now = DateTime::parse_from_rfc3339("2027-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Cutoffs::at(now, &RetentionConfig::default());
        assert_eq!(c.notices, now - chrono::Duration::days(120));
        assert_eq!(c.events, now - chrono::Duration::days(120));
        assert_eq!(c.quarantine, now - chrono::Duration::days(30));
        assert_eq!(c.audit, now - chrono::Duration::days(730));
        let huge = RetentionConfig {
            audit: chrono::Duration::MAX,
            ..RetentionConfig::default()
        };
        assert_eq!(Cutoffs::at(now, &huge).audit, DateTime::<Utc>::MIN_UTC);
    }
}
