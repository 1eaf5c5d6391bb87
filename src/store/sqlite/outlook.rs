//! The outlook's reads on SQLite: a school's pending notices by (school, due_at)
//! (`notices_school_due`, migration 0030), its sent ones by (school, sent_at)
//! (`notices_school_sent`, migration 0070).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{notice_from_row, SqliteStore, NOTICE_COLUMNS};
use crate::outlook::{Delivery, PendingItem};
use crate::store::outlook::{
    deliveries_of, role_channel, rule_or_entered, OutlookQueries, SentRow, DISCUSSED_MARKS,
};
use crate::store::{from_ms, to_ms, Result, StoredNotice};

#[async_trait]
impl OutlookQueries for SqliteStore {
    async fn pending_items(&self, school: &str) -> Result<Vec<PendingItem>> {
        // The last reason's rule, read in SQL: the chains stay in the database.
        let rows = sqlx::query(
            "SELECT id, role, channel, due_at, student, \
                    COALESCE(json_extract(reasons, '$[#-1][0]'), json_extract(reasons, '$[#-1].rule')) AS rule \
             FROM notices INDEXED BY notices_school_due \
             WHERE school = ?1 AND state = 'pending' ORDER BY due_at, id",
        )
        .bind(school)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (role, channel) = role_channel(r.try_get("role")?, r.try_get("channel")?)?;
                Ok(PendingItem {
                    id: r.try_get("id")?,
                    school: school.to_string(),
                    role,
                    channel,
                    due_at: from_ms(r.try_get("due_at")?),
                    student: r.try_get("student")?,
                    class: None,
                    rule: rule_or_entered(r.try_get("rule")?),
                })
            })
            .collect()
    }

    async fn pending_between(
        &self,
        school: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredNotice>> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices INDEXED BY notices_school_due \
             WHERE school = ?1 AND state = 'pending' AND due_at >= ?2 AND due_at < ?3 \
             AND id > ?4 ORDER BY id LIMIT ?5"
        ))
        .bind(school)
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn deliveries(
        &self,
        school: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Delivery>> {
        let [a, b] = DISCUSSED_MARKS;
        let rows = sqlx::query(
            "SELECT id, recipient, role, student, channel, sent_at, \
                    COALESCE(message_key, (SELECT key FROM messages WHERE messages.id = message_id)) \
                      AS message_key, \
                    event_id, kind, \
                    (instr(reasons, ?4) > 0 OR instr(reasons, ?5) > 0) AS discussed \
             FROM notices INDEXED BY notices_school_sent \
             WHERE school = ?1 AND state = 'sent' AND sent_at >= ?2 AND sent_at < ?3 \
             ORDER BY sent_at, message_key, id",
        )
        .bind(school)
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(SentRow {
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    role: r.try_get("role")?,
                    student: r.try_get("student")?,
                    channel: r.try_get("channel")?,
                    sent_at: r.try_get("sent_at")?,
                    message_key: r.try_get("message_key")?,
                    event_id: r.try_get("event_id")?,
                    kind: r.try_get("kind")?,
                    discussed: r.try_get::<i64, _>("discussed")? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        deliveries_of(school, rows)
    }
}
