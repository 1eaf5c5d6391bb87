//! Copies the WAL back into the database file from a connection of its own, so that the
//! writer's commits seldom do it (issue 18).
//!
//! Why: SQLite's automatic checkpoint runs inside the commit that fills the WAL, so one ingest
//! batch in every few dozen waited for pages to be written into the file and the file to be
//! fsynced. With a large buffer (1 000 000 events) those pages are spread all over the indexes
//! and that commit cost rose to half a batch's time. A passive checkpoint here, a few times a
//! second, does that work beside the writer (it never blocks it); the writer's own automatic
//! checkpoint stays as the backstop and then finds little left to copy, after which the WAL
//! starts again from its beginning. Durability does not change: a commit is durable once its
//! WAL frames are fsynced (`synchronous = FULL`), before any checkpoint. A checkpoint that
//! copies pages fsyncs the WAL first, which also makes durable the release's records that
//! were committed without an fsync of their own (`unsynced`).

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

/// How often the WAL is copied back while something writes.
const EVERY: Duration = Duration::from_millis(200);

/// Runs passive checkpoints on the database of `opts` until dropped.
pub(super) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    pub(super) fn start(opts: SqliteConnectOptions) -> Checkpointer {
        Checkpointer(tokio::spawn(run(opts)))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(opts: SqliteConnectOptions) {
    let mut conn = match opts.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "the background WAL checkpoint cannot connect; commits do it themselves");
            return;
        }
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        // (busy, frames in the WAL, frames copied): nothing is done, and nothing fsynced, when
        // every frame was copied before.
        let r: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await;
        match r {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("the background WAL checkpoint works again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "background WAL checkpoint failed; commits do it themselves until it works again");
            }
            Err(_) => {}
        }
    }
}
