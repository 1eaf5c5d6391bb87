//! The loop that looks after events waiting for their student: plans those the directory now
//! lists (an import the daemon was not told about, the SIS's directory) and reports dead those
//! that waited longer than `[directory] unresolved_hold`. Imports and reloads plan at once
//! (`Ingestor::replan_all`); this loop is what makes the hold run out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::ingest::Ingestor;

/// How often the loop looks: a tenth of the hold, between a second and a minute, so that an
/// event is dead within a tenth of its hold of running out.
pub fn interval(hold: chrono::Duration) -> Duration {
    (hold.to_std().unwrap_or_default() / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Plans what can be planned, then expires what waited too long; once now and then every
/// [`interval`] until `stop`.
pub async fn run(ingestor: Arc<Ingestor>, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = clock.now();
        if let Err(e) = ingestor.plan_resolved(now).await {
            tracing::warn!(error = %e, "cannot plan the events that waited for their student");
        }
        if let Err(e) = ingestor.expire_unresolved(now).await {
            tracing::warn!(error = %e, "cannot expire the events that waited for their student");
        }
        // Retention (AVG): they name a student; they go with the events' contents.
        let keep = ingestor.shared().config().retention.events;
        let before = now.checked_sub_signed(keep).unwrap_or(now);
        if let Err(e) = ingestor.store().unresolved().forget(before).await {
            tracing::warn!(error = %e, "cannot purge old unresolved events");
        }
        let every = interval(ingestor.shared().config().unresolved_hold);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_looks_a_tenth_of_the_hold_between_a_second_and_a_minute() {
        let s = |secs| interval(chrono::Duration::seconds(secs)).as_secs();
        assert_eq!([s(2), s(300), s(7 * 86_400)], [1, 30, 60]);
    }
}
