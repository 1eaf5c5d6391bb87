//! Commits that wait for no fsync of their own: a release's recorded outcomes (issue 18).
//!
//! Why: with `synchronous = FULL` every commit waits for an fsync of the WAL (~3 ms on the
//! bench machine), and a release records its outcomes several times a round on the one
//! connection that the next round's claim waits for. Losing such a record is harmless: its
//! notices stay claimed in their message and go out again after the lease, as the message
//! they were claimed as (same key, same `Message-ID`; the outbox), which is what already
//! happens to a send in flight at a crash. And the window is short: the record is written to
//! the WAL before the commit returns, so a killed process loses nothing; only a power cut can,
//! until the next fsync of the WAL, which the next claim's or ingest's commit makes, and the
//! background checkpoint every 200 ms when it finds pages to copy (`checkpoint`). Ingest,
//! claims and every other write keep their own fsync: what they commit is acknowledged, or
//! sent on the strength of it.
//!
//! SQLite changes the setting only outside a transaction, so the connection is switched to
//! `NORMAL` before the transaction and back to `FULL` after it. A connection that was not
//! switched back (an error, or the future dropped midway) is closed instead of going back to
//! the pool, so no other commit ever runs without its fsync.

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Sqlite, SqlitePool, Transaction};

/// The writer's connection, switched to `synchronous = NORMAL` until [`Unsynced::restore`].
pub(super) struct Unsynced {
    conn: PoolConnection<Sqlite>,
    /// Whether the connection is as the pool handed it out (`FULL`).
    restored: bool,
}

impl Unsynced {
    /// Takes the pool's connection and, when `relax` (a file store; one in memory syncs
    /// nothing anyway), switches it to `NORMAL`.
    pub(super) async fn acquire(pool: &SqlitePool, relax: bool) -> Result<Unsynced, sqlx::Error> {
        let mut this = Unsynced {
            conn: pool.acquire().await?,
            restored: !relax,
        };
        if relax {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *this.conn)
                .await?;
        }
        Ok(this)
    }

    pub(super) async fn begin(&mut self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.conn.begin().await
    }

    /// Switches the connection back to `FULL` before it returns to the pool.
    pub(super) async fn restore(mut self) -> Result<(), sqlx::Error> {
        if !self.restored {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *self.conn)
                .await?;
            self.restored = true;
        }
        Ok(())
    }
}

impl Drop for Unsynced {
    fn drop(&mut self) {
        if !self.restored {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};

    async fn pool(dir: &std::path::Path) -> SqlitePool {
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("s.db"))
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Full);
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .unwrap()
    }

    async fn level(conn: &mut sqlx::SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn only_its_own_transaction_commits_without_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path()).await;
        let mut u = Unsynced::acquire(&pool, true).await.unwrap();
        assert_eq!(level(&mut u.conn).await, 1, "NORMAL for its transaction");
        let mut tx = u.begin().await.unwrap();
        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        u.restore().await.unwrap();
        let mut next = pool.acquire().await.unwrap();
        assert_eq!(level(&mut next).await, 2, "FULL again for the next commit");
    }

    #[tokio::test]
    async fn a_connection_left_unsynced_is_closed_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path()).await;
        let mut u = Unsynced::acquire(&pool, true).await.unwrap();
        // A mark of this connection: a temporary table lives as long as the connection.
        sqlx::query("CREATE TEMP TABLE mark (x)")
            .execute(&mut *u.conn)
            .await
            .unwrap();
        drop(u); // as when a finish fails or its future is dropped midway
        let mut next = pool.acquire().await.unwrap();
        assert_eq!(level(&mut next).await, 2);
        let marks: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_temp_master WHERE name = 'mark'")
                .fetch_one(&mut *next)
                .await
                .unwrap();
        assert_eq!(marks, 0, "a new connection, not the one left at NORMAL");
    }

    /// The store's record of outcomes leaves its writer at `FULL` for whatever commits next
    /// (an acknowledged ingest batch, a claim). Fails when a record leaves the connection at
    /// `NORMAL` in the pool (neither switched back nor closed).
    #[tokio::test]
    async fn the_store_writer_is_back_at_full_after_a_record() {
        use crate::store::Store;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = super::super::SqliteStore::open(&url).await.unwrap();
        store.finish(&[]).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        assert_eq!(level(&mut conn).await, 2);
    }

    #[tokio::test]
    async fn a_store_in_memory_is_left_as_it_is() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .in_memory(true)
                    .synchronous(SqliteSynchronous::Off),
            )
            .await
            .unwrap();
        let mut u = Unsynced::acquire(&pool, false).await.unwrap();
        assert_eq!(level(&mut u.conn).await, 0);
        u.restore().await.unwrap();
        let mut next = pool.acquire().await.unwrap();
        assert_eq!(level(&mut next).await, 0);
    }
}
