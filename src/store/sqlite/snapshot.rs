//! The SIS snapshots on SQLite (tables of migration 0020): rows written in multi-row
//! statements, one transaction per poll.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::store::snapshot::{
    snapshot_of, SnapTuple, Snapshot, SnapshotChange, SnapshotStore, SNAP_COLUMNS,
};
use crate::store::{to_ms, Result};

/// Rows per statement: 9 columns each stays far below SQLite's bound-parameter limit.
const CHUNK: usize = 1000;

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn load_snapshot(&self, source: &str, scope: &str) -> Result<Option<Snapshot>> {
        let cursor: Option<Option<String>> =
            sqlx::query_scalar("SELECT cursor FROM sis_scopes WHERE source = ?1 AND scope = ?2")
                .bind(source)
                .bind(scope)
                .fetch_optional(&self.pool)
                .await?;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let rows: Vec<SnapTuple> = sqlx::query_as(&format!(
            "SELECT {SNAP_COLUMNS} FROM sis_rows WHERE source = ?1 AND scope = ?2"
        ))
        .bind(source)
        .bind(scope)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(snapshot_of(cursor, rows)))
    }

    async fn save_snapshot(
        &self,
        source: &str,
        scope: &str,
        change: &SnapshotChange,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for keys in change.delete.chunks(CHUNK) {
            sqlx::query(
                "DELETE FROM sis_rows WHERE source = ?1 AND scope = ?2 \
                 AND key IN (SELECT value FROM json_each(?3))",
            )
            .bind(source)
            .bind(scope)
            .bind(serde_json::to_string(keys).expect("keys serialize"))
            .execute(&mut *tx)
            .await?;
        }
        for rows in change.upsert.chunks(CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO sis_rows (source, scope, key, digest, version, kind, record, student, part) ",
            );
            q.push_values(rows, |mut b, r| {
                b.push_bind(source)
                    .push_bind(scope)
                    .push_bind(&r.key)
                    .push_bind(&r.digest)
                    .push_bind(r.version)
                    .push_bind(&r.kind)
                    .push_bind(&r.record)
                    .push_bind(&r.student)
                    .push_bind(&r.part);
            });
            q.push(
                " ON CONFLICT (source, scope, key) DO UPDATE SET digest = excluded.digest, \
                 version = excluded.version, kind = excluded.kind, record = excluded.record, \
                 student = excluded.student, part = excluded.part",
            );
            q.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO sis_scopes (source, scope, polled_at, cursor) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (source, scope) DO UPDATE SET polled_at = excluded.polled_at, \
             cursor = COALESCE(excluded.cursor, sis_scopes.cursor)",
        )
        .bind(source)
        .bind(scope)
        .bind(to_ms(at))
        .bind(&change.cursor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn snapshot_scopes(&self, source: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT scope FROM sis_scopes WHERE source = ?1")
                .bind(source)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn drop_snapshot_scopes(&self, source: &str, scopes: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in scopes.chunks(CHUNK) {
            let list = serde_json::to_string(chunk).expect("scopes serialize");
            for table in ["sis_rows", "sis_scopes"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE source = ?1 AND scope IN (SELECT value FROM json_each(?2))"
                ))
                .bind(source)
                .bind(&list)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
