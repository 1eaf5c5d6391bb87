//! Events waiting for their student on PostgreSQL (table of migration 0031); the same
//! semantics as SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::unresolved::{
    unresolved_of, Unresolved, UnresolvedCount, UnresolvedStore, UnresolvedTuple,
    UNRESOLVED_COLUMNS,
};
use crate::store::{to_ms, Result};

#[async_trait]
impl UnresolvedStore for PgStore {
    async fn waiting(&self) -> Result<Vec<Unresolved>> {
        let rows: Vec<UnresolvedTuple> = sqlx::query_as(&format!(
            "SELECT {UNRESOLVED_COLUMNS} FROM unresolved WHERE dead_at IS NULL ORDER BY since, event_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(unresolved_of).collect())
    }

    async fn resolved(&self, event_ids: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM unresolved WHERE dead_at IS NULL AND event_id = ANY($1)")
            .bind(event_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn expire(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Unresolved>> {
        let rows: Vec<UnresolvedTuple> = sqlx::query_as(&format!(
            "UPDATE unresolved SET dead_at = $1, reason = $2 \
             WHERE dead_at IS NULL AND since < $3 RETURNING {UNRESOLVED_COLUMNS}"
        ))
        .bind(to_ms(now))
        .bind(reason)
        .bind(to_ms(before))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(unresolved_of).collect())
    }

    async fn counts(&self) -> Result<Vec<UnresolvedCount>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT school, COUNT(*) FILTER (WHERE dead_at IS NULL), \
             COUNT(*) FILTER (WHERE dead_at IS NOT NULL) \
             FROM unresolved GROUP BY school ORDER BY school",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(school, waiting, dead)| UnresolvedCount {
                school,
                waiting,
                dead,
            })
            .collect())
    }

    async fn forget(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM unresolved WHERE since < $1")
            .bind(to_ms(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn forget_student(&self, student: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM unresolved WHERE student = $1")
            .bind(student)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn of_event(&self, event_id: &str) -> Result<Option<Unresolved>> {
        let row: Option<UnresolvedTuple> = sqlx::query_as(&format!(
            "SELECT {UNRESOLVED_COLUMNS} FROM unresolved WHERE event_id = $1"
        ))
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(unresolved_of))
    }
}
