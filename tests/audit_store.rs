//! The audit trail on SQLite and PostgreSQL: appended in order, filtered, paged by id,
//! append-only (an UPDATE is refused by the database), and purged only by age.

mod common;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use rustig::store::audit::{AuditEntry, AuditFilter};
use rustig::store::Store;
use serde_json::json;

async fn contract(url: &str) {
    let store: Arc<dyn Store> = rustig::store::open(url).await.unwrap();
    let log = store.audit();
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let first = AuditEntry::new(t, "admin:ops", "notices.cancel", "notice:7").change(
        Some(json!({"state": "pending"})),
        Some(json!({"state": "cancelled"})),
    );
    let id1 = log.append(&first).await.unwrap();
    let id2 = log
        .append(&AuditEntry::new(
            t + Duration::days(1),
            "guardian:g-1",
            "preferences.set",
            "guardian:g-1",
        ))
        .await
        .unwrap();
    let id3 = log
        .append(&AuditEntry::new(
            t + Duration::days(2),
            "cli:root",
            "notices_x",
            "dead:all",
        ))
        .await
        .unwrap();
    assert!(id1 < id2 && id2 < id3);

    let all = log.list(&AuditFilter::default(), None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].id, id1);
    assert_eq!(all[0].entry, first);
    // Keyset pages.
    let page = log
        .list(&AuditFilter::default(), Some(id1), 1)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [id2]);
    // A prefix matches below it only; `_` is not a wildcard.
    let f = AuditFilter {
        action: Some("notices.".into()),
        ..AuditFilter::default()
    };
    let hits = log.list(&f, None, 10).await.unwrap();
    assert_eq!(hits.iter().map(|r| r.id).collect::<Vec<_>>(), [id1]);
    let f = AuditFilter {
        target: Some("guardian:g-1".into()),
        since: Some(t + Duration::hours(1)),
        until: Some(t + Duration::days(3)),
        ..AuditFilter::default()
    };
    let hits = log.list(&f, None, 10).await.unwrap();
    assert_eq!(hits.iter().map(|r| r.id).collect::<Vec<_>>(), [id2]);

    // Append-only: the database refuses a change.
    let update = refused(url, "UPDATE audit SET actor = 'someone else'").await;
    assert!(update, "an UPDATE of the audit trail was accepted");

    // Retention deletes by age, in batches.
    let n = log.purge_audit(t + Duration::hours(36), 1).await.unwrap();
    assert_eq!(n, 1);
    let n = log.purge_audit(t + Duration::hours(36), 1).await.unwrap();
    assert_eq!(n, 1);
    let n = log.purge_audit(t + Duration::hours(36), 1).await.unwrap();
    assert_eq!(n, 0);
    let left = log.list(&AuditFilter::default(), None, 10).await.unwrap();
    assert_eq!(left.iter().map(|r| r.id).collect::<Vec<_>>(), [id3]);
}

/// Runs `sql` on the store's own database; true when the database refused it.
async fn refused(url: &str, sql: &str) -> bool {
    if url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut c).await.is_err()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.is_err()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_audit_trail_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rustig.db", tmp.path().display());
    contract(&url).await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_audit_trail_on_postgres() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    contract(&pg.url).await;
}
