//! Retention and erasure on PostgreSQL (migration 0050): each purge a short transaction of
//! at most `batch` rows. Several instances may purge at once: `SKIP LOCKED` lets each take
//! rows the others do not hold.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::retention::{
    day_counts, DoneRow, Erased, NoticeDay, QuarantineUsage, Retention, PURGED_BODY,
};
use crate::store::{to_ms, Result};

/// Adds done notices to the day counts and deletes them.
async fn count_and_delete(tx: &mut Transaction<'static, Postgres>, rows: &[DoneRow]) -> Result<()> {
    let days = day_counts(rows);
    if !days.is_empty() {
        let col = |f: fn(&crate::store::retention::NoticeDay) -> String| {
            days.iter().map(f).collect::<Vec<String>>()
        };
        sqlx::query(
            "INSERT INTO notice_days (day, school, channel, role, kind, state, notices) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::text[], $7::bigint[]) \
             ON CONFLICT (day, school, channel, role, kind, state) \
             DO UPDATE SET notices = notice_days.notices + excluded.notices",
        )
        .bind(col(|d| d.day.clone()))
        .bind(col(|d| d.school.clone()))
        .bind(col(|d| d.channel.clone()))
        .bind(col(|d| d.role.clone()))
        .bind(col(|d| d.kind.clone()))
        .bind(col(|d| d.state.clone()))
        .bind(days.iter().map(|d| d.notices).collect::<Vec<i64>>())
        .execute(&mut **tx)
        .await?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let messages: Vec<Option<i64>> =
        sqlx::query_scalar("DELETE FROM notices WHERE id = ANY($1) RETURNING message_id")
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
    super::drop_emptied_messages(tx, messages).await?;
    Ok(())
}

const DONE_COLUMNS: &str =
    "id, school, channel, role, kind, state, COALESCE(sent_at, due_at) AS ended";

#[async_trait]
impl Retention for PgStore {
    async fn purge_notices(&self, before: DateTime<Utc>, batch: u32) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<DoneRow> = sqlx::query_as(&format!(
            "SELECT {DONE_COLUMNS} FROM notices \
             WHERE state IN ('sent', 'dead') AND COALESCE(sent_at, due_at) < $1 \
             LIMIT $2 FOR UPDATE SKIP LOCKED"
        ))
        .bind(to_ms(before))
        .bind(batch as i64)
        .fetch_all(&mut *tx)
        .await?;
        count_and_delete(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn purge_events(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE events SET body = $3, purged_at = $2 WHERE id IN ( \
               SELECT e.id FROM events e \
               WHERE e.purged_at IS NULL AND e.received_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM notices n \
                 WHERE n.event_id = e.id AND n.state IN ('pending', 'claimed')) \
               LIMIT $4 FOR UPDATE SKIP LOCKED)",
        )
        .bind(to_ms(before))
        .bind(to_ms(now))
        .bind(PURGED_BODY)
        .bind(batch as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn purge_quarantine(&self, before: DateTime<Utc>, batch: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine \
             WHERE received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(to_ms(before))
        .bind(batch as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn notice_days(&self) -> Result<Vec<NoticeDay>> {
        let rows: Vec<(String, String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT day, school, channel, role, kind, state, notices FROM notice_days \
             ORDER BY day, school, channel, role, kind, state",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(day, school, channel, role, kind, state, notices)| NoticeDay {
                    day,
                    school,
                    channel,
                    role,
                    kind,
                    state,
                    notices,
                },
            )
            .collect())
    }

    async fn quarantine_usage(&self) -> Result<QuarantineUsage> {
        let (items, bytes): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(kept), 0)::BIGINT FROM quarantine")
                .fetch_one(&self.pool)
                .await?;
        Ok(QuarantineUsage { items, bytes })
    }

    async fn erase_student(&self, student: &str) -> Result<Erased> {
        let mut tx = self.pool.begin().await?;
        // Events naming the student; a purged body ('{}') names no one.
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM events WHERE body::jsonb ->> 'student' = $1 FOR UPDATE",
        )
        .bind(student)
        .fetch_all(&mut *tx)
        .await?;
        // Sent and dead ones still count in the figures; the rest just goes.
        let done: Vec<DoneRow> = sqlx::query_as(&format!(
            "SELECT {DONE_COLUMNS} FROM notices WHERE student = $1 AND state IN ('sent', 'dead') \
             FOR UPDATE"
        ))
        .bind(student)
        .fetch_all(&mut *tx)
        .await?;
        count_and_delete(&mut tx, &done).await?;
        let messages: Vec<Option<i64>> =
            sqlx::query_scalar("DELETE FROM notices WHERE student = $1 RETURNING message_id")
                .bind(student)
                .fetch_all(&mut *tx)
                .await?;
        let rest = messages.len() as u64;
        super::drop_emptied_messages(&mut tx, messages).await?;
        sqlx::query("DELETE FROM records WHERE event_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        let events = sqlx::query("DELETE FROM events WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Rejected input that quotes the student's id as a JSON string.
        let quoted = serde_json::to_string(student).expect("a string serializes");
        let quarantine = sqlx::query("DELETE FROM quarantine WHERE position($1::bytea in raw) > 0")
            .bind(quoted.as_bytes())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let gone = sqlx::query("DELETE FROM gone_contacts WHERE recipient = $1")
            .bind(student)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Erased {
            events,
            notices: done.len() as u64 + rest,
            quarantine,
            gone_contacts: gone,
        })
    }
}
