//! The admin views and operator changes on PostgreSQL (indexes of migration 0030). Changes
//! lock their rows, so two instances or two operators change a notice once, and notify the
//! other instances when something became due.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Row};

use super::{columns, notice_from_row, notify, parse_event, PgStore};
use crate::model::{ChannelKind, Role};
use crate::policy::Reason;
use crate::store::admin::{
    AdminQueries, Changed, NextRelease, NoticeFilter, NoticeRow, Quarantined, StateCount,
    StoredEvent, HOLDS_COUNTED,
};
use crate::store::{from_ms, to_ms, Result, StoreError};

fn row_of(r: &sqlx::postgres::PgRow) -> Result<NoticeRow> {
    Ok(NoticeRow {
        notice: notice_from_row(r)?,
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_ms),
    })
}

fn role_channel(role: &str, channel: &str) -> Result<(Role, ChannelKind)> {
    let role = Role::parse(role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
    let channel = ChannelKind::parse(channel)
        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?;
    Ok((role, channel))
}

impl PgStore {
    async fn notice_row<'e, E: sqlx::PgExecutor<'e>>(
        exec: E,
        id: i64,
        lock: bool,
    ) -> Result<Option<NoticeRow>> {
        let r = sqlx::query(&format!(
            "SELECT {}, sent_at FROM notices WHERE id = $1{}",
            columns(""),
            if lock { " FOR UPDATE" } else { "" }
        ))
        .bind(id)
        .fetch_optional(exec)
        .await?;
        r.as_ref().map(row_of).transpose()
    }

    /// Moves a pending notice: `state` and `due_at` from `reason`, the reason appended.
    async fn change_pending(&self, id: i64, state: &str, reason: Reason) -> Result<Changed> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            let Some(before) = Self::notice_row(&mut *tx, id, true).await? else {
                return Ok(Changed::NotFound);
            };
            if before.notice.state != "pending" {
                return Ok(Changed::Refused(Box::new(before)));
            }
            let mut reasons = before.notice.reasons.clone();
            let due = reason.to;
            reasons.push(reason);
            sqlx::query("UPDATE notices SET state = $2, due_at = $3, reasons = $4 WHERE id = $1")
                .bind(id)
                .bind(state)
                .bind(to_ms(due))
                .bind(crate::store::reasons::encode(&reasons))
                .execute(&mut *tx)
                .await?;
            let after = Self::notice_row(&mut *tx, id, false)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("notice {id} vanished")))?;
            if state == "pending" {
                notify(&mut tx, &self.channel).await?;
            }
            tx.commit().await?;
            Ok(Changed::Done(Box::new(before), Box::new(after)))
        }
        .await;
        self.health.observe(r)
    }
}

impl PgStore {
    /// Moves the counters' delta rows into `notice_counts` (migration 0060), by one instance at
    /// a time: the others read the deltas as they are. Called before each read of the
    /// counters, so the deltas stay as few as the changes between two reads.
    async fn fold_counts_in(&self, tx: &mut sqlx::Transaction<'static, Postgres>) -> Result<()> {
        let mine: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || 'notice_counts', 0))",
        )
        .bind(&self.lock_prefix)
        .fetch_one(&mut **tx)
        .await?;
        if mine {
            sqlx::query(
                "WITH moved AS (DELETE FROM notice_count_deltas \
                    RETURNING school, channel, state, delta) \
                 INSERT INTO notice_counts AS c (school, channel, state, count) \
                 SELECT school, channel, state, SUM(delta) FROM moved \
                 GROUP BY school, channel, state \
                 ON CONFLICT (school, channel, state) DO UPDATE SET count = c.count + excluded.count",
            )
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AdminQueries for PgStore {
    async fn notices(
        &self,
        f: &NoticeFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<NoticeRow>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT {}, sent_at FROM notices WHERE id > ",
            columns("")
        ));
        q.push_bind(after.unwrap_or(0));
        let text = [
            ("school", &f.school),
            ("state", &f.state),
            ("recipient", &f.recipient),
            ("student", &f.student),
            ("event_id", &f.event),
        ];
        for (column, value) in text {
            if let Some(v) = value {
                q.push(format!(" AND {column} = ")).push_bind(v.clone());
            }
        }
        if let Some(c) = f.channel {
            q.push(" AND channel = ").push_bind(c.as_str());
        }
        if let Some(r) = f.role {
            q.push(" AND role = ").push_bind(r.as_str());
        }
        if let Some(t) = f.due_from {
            q.push(" AND due_at >= ").push_bind(to_ms(t));
        }
        if let Some(t) = f.due_until {
            q.push(" AND due_at < ").push_bind(to_ms(t));
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await;
        let rows = self.health.observe(rows.map_err(StoreError::from))?;
        rows.iter().map(row_of).collect()
    }

    async fn notice(&self, id: i64) -> Result<Option<NoticeRow>> {
        Self::notice_row(&self.pool, id, false).await
    }

    async fn state_counts(&self) -> Result<Vec<StateCount>> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            self.fold_counts_in(&mut tx).await?;
            let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT school, channel, state, SUM(n)::bigint FROM ( \
                    SELECT school, channel, state, count AS n FROM notice_counts \
                    UNION ALL \
                    SELECT school, channel, state, delta AS n FROM notice_count_deltas \
                 ) c GROUP BY school, channel, state HAVING SUM(n) <> 0 \
                 ORDER BY school, channel, state",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows)
        }
        .await;
        let rows = self.health.observe(r)?;
        Ok(rows
            .into_iter()
            .map(|(school, channel, state, count)| StateCount {
                school,
                channel,
                state,
                count,
            })
            .collect())
    }

    async fn next_release(&self, school: &str, now: DateTime<Utc>) -> Result<Option<NextRelease>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_at) FROM notices \
             WHERE school = $1 AND state = 'pending' AND due_at >= $2",
        )
        .bind(school)
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await?;
        let Some(at) = at else { return Ok(None) };
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT role, channel, COUNT(*) FROM ( \
                SELECT role, channel FROM notices \
                WHERE school = $1 AND state = 'pending' AND due_at = $2 LIMIT $3 \
             ) due GROUP BY role, channel ORDER BY role DESC, channel",
        )
        .bind(school)
        .bind(at)
        .bind(HOLDS_COUNTED + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.iter().map(|r| r.2).sum::<i64>() > HOLDS_COUNTED;
        let holds = rows
            .into_iter()
            .map(|(role, channel, n)| role_channel(&role, &channel).map(|(r, c)| (r, c, n)))
            .collect::<Result<_>>()?;
        Ok(Some(NextRelease {
            at: from_ms(at),
            holds,
            more,
        }))
    }

    async fn fold_counts(&self) -> Result<()> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            self.fold_counts_in(&mut tx).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.health.observe(r)
    }

    async fn oldest_pending(&self, school: &str) -> Result<Option<DateTime<Utc>>> {
        let oldest: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_at) FROM notices WHERE school = $1 AND state = 'pending'",
        )
        .bind(school)
        .fetch_one(&self.pool)
        .await?;
        Ok(oldest.map(from_ms))
    }

    async fn held_by_relay_fault(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            // `last_error IS NOT NULL`: the partial index of migration 0090.
            "SELECT COUNT(*) FROM notices WHERE state = 'pending' AND last_error IS NOT NULL \
             AND channel = 'email' AND last_error LIKE $1",
        )
        .bind(format!("SMTP: {}%", crate::send::email::relay_fault::MARK))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn quarantine_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn quarantined(&self, after: Option<i64>, limit: u32) -> Result<Vec<Quarantined>> {
        let rows: Vec<(i64, i64, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, received_at, source, kind, reason, \
             COALESCE(size, octet_length(raw))::BIGINT \
             FROM quarantine WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at, source, kind, reason, bytes)| Quarantined {
                id,
                received_at: from_ms(at),
                source,
                kind,
                reason,
                bytes,
                raw: None,
            })
            .collect())
    }

    async fn quarantine_item(&self, id: i64) -> Result<Option<Quarantined>> {
        let row: Option<(i64, i64, String, String, String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT id, received_at, source, kind, reason, \
             COALESCE(size, octet_length(raw))::BIGINT, raw FROM quarantine WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(id, at, source, kind, reason, bytes, raw)| Quarantined {
                id,
                received_at: from_ms(at),
                source,
                kind,
                reason,
                bytes,
                raw: Some(raw),
            }),
        )
    }

    async fn discard_quarantined(&self, id: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM quarantine WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn stored_event(&self, id: &str) -> Result<Option<StoredEvent>> {
        let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT e.body, e.received_at, r.event_id FROM events e \
             LEFT JOIN records r ON r.school = e.school AND r.record = e.record \
             WHERE e.id = $1 AND e.purged_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(body, received_at, current)| {
            Ok(StoredEvent {
                event: parse_event(&body)?,
                received_at: from_ms(received_at),
                current,
            })
        })
        .transpose()
    }

    async fn cancel_notice(&self, id: i64, reason: Reason) -> Result<Changed> {
        self.change_pending(id, "cancelled", reason).await
    }

    async fn release_notice(&self, id: i64, reason: Reason) -> Result<Changed> {
        self.change_pending(id, "pending", reason).await
    }

    async fn resend_ids(&self, ids: &[i64], now: DateTime<Utc>) -> Result<Vec<i64>> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            let rows: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT id, due_at, reasons FROM notices \
                 WHERE id = ANY($1) AND state = 'dead' ORDER BY id FOR UPDATE",
            )
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
            for (id, due_at, reasons) in &rows {
                let reasons = crate::store::resent_reasons(reasons, from_ms(*due_at), now)?;
                sqlx::query(
                    "UPDATE notices SET state = 'pending', due_at = $2, attempts = 0, \
                     claimed_until = NULL, reasons = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(to_ms(now))
                .bind(reasons)
                .execute(&mut *tx)
                .await?;
            }
            if !rows.is_empty() {
                notify(&mut tx, &self.channel).await?;
            }
            tx.commit().await?;
            Ok(rows.into_iter().map(|(id, _, _)| id).collect())
        }
        .await;
        self.health.observe(r)
    }
}
