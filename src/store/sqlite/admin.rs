//! The admin views and operator changes on SQLite (indexes of migration 0030).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::state_counts::Moves;
use super::{notice_from_row, parse_event, SqliteStore, NOTICE_COLUMNS};
use crate::model::{ChannelKind, Role};
use crate::policy::Reason;
use crate::store::admin::{
    AdminQueries, Changed, NextRelease, NoticeFilter, NoticeRow, Quarantined, StateCount,
    StoredEvent, HOLDS_COUNTED,
};
use crate::store::{from_ms, to_ms, Result, StoreError};

fn row_of(r: &sqlx::sqlite::SqliteRow) -> Result<NoticeRow> {
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

impl SqliteStore {
    async fn notice_row(&self, id: i64) -> Result<Option<NoticeRow>> {
        let r = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS}, sent_at FROM notices WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_of).transpose()
    }

    /// Moves a pending notice: `state` and `due_at` from `reason`, the reason appended.
    async fn change_pending(&self, id: i64, state: &str, reason: Reason) -> Result<Changed> {
        let Some(before) = self.notice_row(id).await? else {
            return Ok(Changed::NotFound);
        };
        if before.notice.state != "pending" {
            return Ok(Changed::Refused(Box::new(before)));
        }
        let mut reasons = before.notice.reasons.clone();
        let due = reason.to;
        reasons.push(reason);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE notices SET state = ?2, due_at = ?3, reasons = ?4 \
             WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id)
        .bind(state)
        .bind(to_ms(due))
        .bind(crate::store::reasons::encode(&reasons))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            let mut moves = Moves::default();
            let n = &before.notice;
            moves.moved(&n.school, n.channel.as_str(), "pending", state);
            moves.write_on(&mut tx).await?;
        }
        tx.commit().await?;
        let after = self
            .notice_row(id)
            .await?
            .ok_or(StoreError::Corrupt(format!("notice {id} vanished")))?;
        Ok(if done.rows_affected() == 1 {
            Changed::Done(Box::new(before), Box::new(after))
        } else {
            // Claimed in between.
            Changed::Refused(Box::new(after))
        })
    }
}

#[async_trait]
impl AdminQueries for SqliteStore {
    async fn notices(
        &self,
        f: &NoticeFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<NoticeRow>> {
        // The index by state keeps no claimed notices (migration 0110): SQLite uses a partial
        // index only for a query that states its condition, with literals. The few claimed
        // notices (those in flight) come from the lease index, which SQLite would not choose
        // over walking the table by id.
        let claimed = f.state.as_deref() == Some("claimed");
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {NOTICE_COLUMNS}, sent_at FROM notices {} WHERE id > ",
            if claimed {
                "INDEXED BY notices_lease"
            } else {
                ""
            }
        ));
        q.push_bind(after.unwrap_or(0));
        match f.state.as_deref() {
            Some("claimed") => {
                q.push(" AND state = 'claimed'");
            }
            Some(state) => {
                q.push(" AND state <> 'claimed' AND state = ")
                    .push_bind(state.to_owned());
            }
            None => {}
        }
        let text = [
            ("school", &f.school),
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
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_of).collect()
    }

    async fn notice(&self, id: i64) -> Result<Option<NoticeRow>> {
        self.notice_row(id).await
    }

    async fn state_counts(&self) -> Result<Vec<StateCount>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT school, channel, state, count FROM notice_counts WHERE count <> 0 \
             ORDER BY school, channel, state",
        )
        .fetch_all(&self.pool)
        .await?;
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
            "SELECT MIN(due_at) FROM notices INDEXED BY notices_school_due \
             WHERE school = ?1 AND state = 'pending' AND due_at >= ?2",
        )
        .bind(school)
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await?;
        let Some(at) = at else { return Ok(None) };
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT role, channel, COUNT(*) FROM ( \
                SELECT role, channel FROM notices INDEXED BY notices_school_due \
                WHERE school = ?1 AND state = 'pending' AND due_at = ?2 LIMIT ?3 \
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

    async fn oldest_pending(&self, school: &str) -> Result<Option<DateTime<Utc>>> {
        let oldest: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_at) FROM notices INDEXED BY notices_school_due \
             WHERE school = ?1 AND state = 'pending'",
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
             AND channel = 'email' AND last_error LIKE ?1",
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
            "SELECT id, received_at, source, kind, reason, COALESCE(size, length(raw)) \
             FROM quarantine WHERE id > ?1 ORDER BY id LIMIT ?2",
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
            "SELECT id, received_at, source, kind, reason, COALESCE(size, length(raw)), raw \
             FROM quarantine WHERE id = ?1",
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
        let r = sqlx::query("DELETE FROM quarantine WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn stored_event(&self, id: &str) -> Result<Option<StoredEvent>> {
        let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT e.body, e.received_at, r.event_id FROM events e \
             LEFT JOIN records r ON r.school = e.school AND r.record = e.record \
             WHERE e.id = ?1 AND e.purged_at IS NULL",
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
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT id, due_at, reasons, school, channel FROM notices \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'dead' ORDER BY id",
        )
        .bind(serde_json::to_string(ids).expect("ids serialize"))
        .fetch_all(&mut *tx)
        .await?;
        let mut moves = Moves::default();
        for (id, due_at, reasons, school, channel) in &rows {
            moves.moved(school, channel, "dead", "pending");
            let reasons = crate::store::resent_reasons(reasons, from_ms(*due_at), now)?;
            sqlx::query(
                "UPDATE notices SET state = 'pending', due_at = ?2, attempts = 0, \
                 claimed_until = NULL, reasons = ?3 WHERE id = ?1",
            )
            .bind(id)
            .bind(to_ms(now))
            .bind(reasons)
            .execute(&mut *tx)
            .await?;
        }
        moves.write_on(&mut tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(id, ..)| id).collect())
    }
}
