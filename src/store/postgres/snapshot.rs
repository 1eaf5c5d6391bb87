//! The SIS snapshots on PostgreSQL (tables of migration 0020): rows written with `UNNEST`,
//! one transaction per poll. One instance polls a source at a time in practice; should two
//! poll the same scope, each writes a consistent snapshot and ingest drops the repeated ids.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::snapshot::{
    snapshot_of, SnapRow, SnapTuple, Snapshot, SnapshotChange, SnapshotStore, SNAP_COLUMNS,
};
use crate::store::{to_ms, Result};

/// Rows per statement, to keep each array parameter of a sane size.
const CHUNK: usize = 5000;

#[async_trait]
impl SnapshotStore for PgStore {
    async fn load_snapshot(&self, source: &str, scope: &str) -> Result<Option<Snapshot>> {
        let cursor: Option<Option<String>> =
            sqlx::query_scalar("SELECT cursor FROM sis_scopes WHERE source = $1 AND scope = $2")
                .bind(source)
                .bind(scope)
                .fetch_optional(&self.pool)
                .await?;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let rows: Vec<SnapTuple> = sqlx::query_as(&format!(
            "SELECT {SNAP_COLUMNS} FROM sis_rows WHERE source = $1 AND scope = $2"
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
                "DELETE FROM sis_rows WHERE source = $1 AND scope = $2 AND key = ANY($3::text[])",
            )
            .bind(source)
            .bind(scope)
            .bind(keys)
            .execute(&mut *tx)
            .await?;
        }
        for rows in change.upsert.chunks(CHUNK) {
            let col = |f: fn(&SnapRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
            let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
            sqlx::query(
                "INSERT INTO sis_rows (source, scope, key, digest, version, kind, record, student, part) \
                 SELECT $1, $2, u.* FROM UNNEST($3::text[], $4::text[], $5::bigint[], $6::text[], \
                 $7::text[], $8::text[], $9::text[]) AS u \
                 ON CONFLICT (source, scope, key) DO UPDATE SET digest = excluded.digest, \
                 version = excluded.version, kind = excluded.kind, record = excluded.record, \
                 student = excluded.student, part = excluded.part",
            )
            .bind(source)
            .bind(scope)
            .bind(col(|r| Some(r.key.clone())))
            .bind(col(|r| r.digest.clone()))
            .bind(versions)
            .bind(col(|r| Some(r.kind.clone())))
            .bind(col(|r| Some(r.record.clone())))
            .bind(col(|r| Some(r.student.clone())))
            .bind(col(|r| r.part.clone()))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO sis_scopes (source, scope, polled_at, cursor) VALUES ($1, $2, $3, $4) \
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
            sqlx::query_scalar("SELECT scope FROM sis_scopes WHERE source = $1")
                .bind(source)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn drop_snapshot_scopes(&self, source: &str, scopes: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in scopes.chunks(CHUNK) {
            for table in ["sis_rows", "sis_scopes"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE source = $1 AND scope = ANY($2::text[])"
                ))
                .bind(source)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
