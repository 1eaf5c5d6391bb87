//! The families' choices on SQLite (table of migration 0040).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{notice_from_row, SqliteStore, NOTICE_COLUMNS};
use crate::model::preference::StoredChoice;
use crate::store::audit::{json_text, AuditEntry};
use crate::store::preference::{
    choice_of, next_version, ChoiceTuple, PreferenceStore, Written, CHOICE_COLUMNS,
};
use crate::store::{to_ms, RecordKey, Result, StoredNotice};

#[async_trait]
impl PreferenceStore for SqliteStore {
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
            "SELECT {CHOICE_COLUMNS} FROM preferences WHERE school = ?1 AND person = ?2"
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
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM preferences WHERE school = ?1 AND person = ?2")
                .bind(&c.school)
                .bind(&c.person)
                .fetch_optional(&mut *tx)
                .await?;
        if stored.unwrap_or(0) != expected {
            return Ok(Written::Stale);
        }
        let version = next_version(expected, at);
        sqlx::query(
            "INSERT INTO preferences (school, person, role, choice, links_from, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (school, person) DO UPDATE SET \
             role = excluded.role, choice = excluded.choice, links_from = excluded.links_from, \
             version = excluded.version",
        )
        .bind(&c.school)
        .bind(&c.person)
        .bind(c.role.as_str())
        .bind(serde_json::to_string(&c.choice).expect("choice serializes"))
        .bind(c.links_from)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit (at, actor, action, target, before, after) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(to_ms(audit.at))
        .bind(&audit.actor)
        .bind(&audit.action)
        .bind(&audit.target)
        .bind(json_text(&audit.before))
        .bind(json_text(&audit.after))
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
        let mut out: Vec<RecordKey> = Vec::new();
        for s in students {
            let rows: Vec<RecordKey> = sqlx::query_as(
                "SELECT DISTINCT school, record FROM notices INDEXED BY notices_student \
                 WHERE school = ?1 AND student = ?2 AND state = 'pending' ORDER BY record",
            )
            .bind(school)
            .bind(s)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn notices_of_recipient(&self, school: &str, person: &str) -> Result<Vec<StoredNotice>> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE school = ?1 AND recipient = ?2 ORDER BY id"
        ))
        .bind(school)
        .bind(person)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }
}
