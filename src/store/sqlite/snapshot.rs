//! The SIS snapshots on SQLite (tables of migration 0020): rows written in multi-row
//! statements, one transaction per poll.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use crate::store::snapshot::{SnapRow, Snapshot, SnapshotChange, SnapshotStore};
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
        let rows = sqlx::query(
            "SELECT key, digest, version, kind, record, student, part FROM sis_rows \
             WHERE source = ?1 AND scope = ?2",
        )
        .bind(source)
        .bind(scope)
        .fetch_all(&self.pool)
        .await?;
        let mut snap = Snapshot {
            rows: std::collections::HashMap::with_capacity(rows.len()),
            cursor,
        };
        for r in rows {
            let row = SnapRow {
                key: r.try_get("key")?,
                digest: r.try_get("digest")?,
                version: r.try_get("version")?,
                kind: r.try_get("kind")?,
                record: r.try_get("record")?,
                student: r.try_get("student")?,
                part: r.try_get("part")?,
            };
            snap.rows.insert(row.key.clone(), row);
        }
        Ok(Some(snap))
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
