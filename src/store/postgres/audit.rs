//! The audit trail on PostgreSQL (table of migration 0025).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::PgStore;
use crate::store::audit::{
    json_text, record_of, AuditEntry, AuditFilter, AuditLog, AuditRecord, AuditTuple, AUDIT_COLUMNS,
};
use crate::store::{to_ms, Result};

#[async_trait]
impl AuditLog for PgStore {
    async fn append(&self, e: &AuditEntry) -> Result<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO audit (at, actor, action, target, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(to_ms(e.at))
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(json_text(&e.before))
        .bind(json_text(&e.after))
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn list(
        &self,
        f: &AuditFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE id > "));
        q.push_bind(after.unwrap_or(0));
        if let Some(actor) = &f.actor {
            q.push(" AND actor = ").push_bind(actor);
        }
        if let Some(action) = f.action_pattern() {
            q.push(" AND action LIKE ")
                .push_bind(action)
                .push(" ESCAPE '\\'");
        }
        if let Some(target) = &f.target {
            q.push(" AND target = ").push_bind(target);
        }
        if let Some(since) = f.since {
            q.push(" AND at >= ").push_bind(to_ms(since));
        }
        if let Some(until) = f.until {
            q.push(" AND at < ").push_bind(to_ms(until));
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<AuditTuple> = q.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(record_of).collect()
    }

    async fn purge_audit(&self, before: DateTime<Utc>, batch: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM audit WHERE id IN \
             (SELECT id FROM audit WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(to_ms(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
