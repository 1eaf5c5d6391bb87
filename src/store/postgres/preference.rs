//! The families' choices on PostgreSQL (table of migration 0040); the same semantics as
//! SQLite: a write checks the version under a row lock and adds its audit row in the same
//! transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{columns, notice_from_row, PgStore};
use crate::model::preference::StoredChoice;
use crate::store::audit::{json_text, AuditEntry};
use crate::store::preference::{
    choice_of, next_version, ChoiceChanged, ChoiceTuple, PreferenceStore, Written, CHOICE_COLUMNS,
};
use crate::store::{to_ms, RecordKey, Result, StoredNotice};

#[async_trait]
impl PreferenceStore for PgStore {
    async fn all_choices(&self) -> Result<Vec<StoredChoice>> {
        let rows: Vec<ChoiceTuple> = sqlx::query_as(&format!(
            "SELECT {CHOICE_COLUMNS} FROM preferences ORDER BY school, person"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(choice_of).collect()
    }

    async fn choice(&self, school: &str, person: &str) -> Result<Option<StoredChoice>> {
        let row: Option<ChoiceTuple> = sqlx::query_as(&format!(
            "SELECT {CHOICE_COLUMNS} FROM preferences WHERE school = $1 AND person = $2"
        ))
        .bind(school)
        .bind(person)
        .fetch_optional(&self.pool)
        .await?;
        row.map(choice_of).transpose()
    }

    async fn set_choice(
        &self,
        c: &StoredChoice,
        expected: i64,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<Written> {
        let mut tx = self.pool.begin().await?;
        // Two first writes for one person meet at the primary key; the loser is stale.
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM preferences WHERE school = $1 AND person = $2 FOR UPDATE",
        )
        .bind(&c.school)
        .bind(&c.person)
        .fetch_optional(&mut *tx)
        .await?;
        if stored.unwrap_or(0) != expected {
            return Ok(Written::Stale);
        }
        let version = next_version(expected, at);
        let choice = serde_json::to_string(&c.choice).expect("choice serializes");
        let written = if stored.is_some() {
            sqlx::query(
                "UPDATE preferences SET role = $3, choice = $4, links_from = $5, version = $6 \
                 WHERE school = $1 AND person = $2",
            )
        } else {
            sqlx::query(
                "INSERT INTO preferences (school, person, role, choice, links_from, version) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (school, person) DO NOTHING",
            )
        }
        .bind(&c.school)
        .bind(&c.person)
        .bind(c.role.as_str())
        .bind(choice)
        .bind(c.links_from)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if written.rows_affected() == 0 {
            return Ok(Written::Stale);
        }
        sqlx::query(
            "INSERT INTO audit (at, actor, action, target, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(to_ms(audit.at))
        .bind(&audit.actor)
        .bind(&audit.action)
        .bind(&audit.target)
        .bind(json_text(&audit.before))
        .bind(json_text(&audit.after))
        .execute(&mut *tx)
        .await?;
        // The other instances reload this person's choices and re-plan (delivered at commit).
        let payload = serde_json::json!({
            "from": self.instance,
            "school": c.school,
            "person": c.person,
        });
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.prefs_channel)
            .bind(payload.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Written::Stored(version))
    }

    async fn pending_records_of_students(
        &self,
        school: &str,
        students: &[String],
    ) -> Result<Vec<RecordKey>> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT school, record FROM notices \
             WHERE school = $1 AND student = ANY($2) AND state = 'pending' ORDER BY school, record",
        )
        .bind(school)
        .bind(students)
        .fetch_all(&self.pool)
        .await?)
    }

    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<ChoiceChanged>> {
        Some(self.choice_changes.subscribe())
    }

    async fn notices_of_recipient(&self, school: &str, person: &str) -> Result<Vec<StoredNotice>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM notices WHERE school = $1 AND recipient = $2 ORDER BY id",
            columns("")
        ))
        .bind(school)
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }
}
