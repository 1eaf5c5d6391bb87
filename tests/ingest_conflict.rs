//! The same event id with other content is a conflict, kept for the operator; an identical
//! repeat stays a harmless duplicate. Rejected input keeps a bounded prefix with its full size
//! and hash, and a full quarantine refuses (507) rather than drops or grows without end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustig::clock::SystemClock;
use rustig::config::Config;
use rustig::ingest::{Accepted, Ingestor, Shared};
use rustig::model::Directory;
use rustig::store::StoreError;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn grade(id: &str, value: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"2026-11-23T10:00:00+01:00","record":"r-{id}","student":"s-1001","grade":{{"assessment":"a","subject":"wiskunde","class":"3c","value":"{value}","kind":"test"}}}}"#
    )
}

fn config_text(tmp: &Path, http: bool) -> String {
    format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[directory]
file = "{repo}/config/directory.example.json"
{http}
[email]
transport = "file"
dir = "{tmp}/outbox"
from = "Coornhert Lyceum <noreply@coornhert.example>"
[quarantine]
keep_bytes = 256
max_bytes = 1048576
[schools.coornhert]
name = "Coornhert Lyceum"
"#,
        tmp = tmp.display(),
        repo = repo().display(),
        http = if http {
            "[ingest.http]\nlisten = \"127.0.0.1:0\""
        } else {
            ""
        }
    )
}

async fn ingestor(tmp: &Path) -> (Ingestor, sqlx::SqlitePool) {
    let config = Config::parse(Path::new("test.toml"), &config_text(tmp, false)).unwrap();
    let store = rustig::store::open(&config.store_url).await.unwrap();
    let shared = Shared::new(config, Directory::default());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/rustig.db", tmp.display()))
        .await
        .unwrap();
    (Ingestor::new(store, shared), pool)
}

fn status(r: &Accepted) -> &'static str {
    match r {
        Accepted::New { .. } => "new",
        Accepted::Duplicate { .. } => "duplicate",
        Accepted::Conflict { .. } => "conflict",
        Accepted::Stale { .. } => "stale",
        Accepted::Rejected { .. } => "rejected",
    }
}

#[tokio::test]
async fn the_same_id_with_other_content_is_a_conflict_kept_in_quarantine() {
    let tmp = tempfile::tempdir().unwrap();
    let (ing, pool) = ingestor(tmp.path()).await;
    let now = at("2026-11-23T10:00:00+01:00");
    let (g1, g1_other) = (grade("g1", "5,4"), grade("g1", "8,0"));
    let ingest = |raws: Vec<String>| {
        let ing = &ing;
        async move {
            let raws: Vec<&[u8]> = raws.iter().map(|r| r.as_bytes()).collect();
            let r = ing.ingest(&raws, "test", now).await.unwrap();
            r.iter().map(status).collect::<Vec<_>>()
        }
    };
    assert_eq!(ingest(vec![g1.clone()]).await, ["new"]);
    // Unknown fields are ignored: the event is the same.
    let g1_extra = g1.replacen('{', r#"{"extra":1,"#, 1);
    assert_eq!(
        ingest(vec![g1.clone(), g1_extra]).await,
        ["duplicate", "duplicate"]
    );
    assert_eq!(ingest(vec![g1_other.clone()]).await, ["conflict"]);
    // Within one batch: the first is new, a different second a conflict, an identical third a
    // duplicate.
    assert_eq!(
        ingest(vec![
            grade("g2", "6,0"),
            grade("g2", "7,0"),
            grade("g2", "6,0")
        ])
        .await,
        ["new", "conflict", "duplicate"]
    );
    let rows: Vec<(String, String, Vec<u8>, i64)> =
        sqlx::query_as("SELECT kind, reason, raw, size FROM quarantine ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|(kind, reason, _, _)| kind == "conflict"
                && reason.starts_with("conflict: event id"))
    );
    assert_eq!(rows[0].2, g1_other.as_bytes());
    assert_eq!(rows[0].3, g1_other.len() as i64);
    // The stored version stays.
    let stored: String = sqlx::query_scalar("SELECT body FROM events WHERE id = 'g1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.contains("5,4"), "{stored}");
}

#[tokio::test]
async fn rejected_input_keeps_a_prefix_and_a_full_quarantine_refuses_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (ing, pool) = ingestor(tmp.path()).await;
    let now = at("2026-11-23T10:00:00+01:00");
    // 2 MiB of garbage: 256 bytes are kept, with its full size and hash.
    let big = vec![b'x'; 2 << 20];
    let r = ing.ingest(&[&big], "test", now).await.unwrap();
    assert_eq!(status(&r[0]), "rejected");
    let (raw, size, hash, kept): (Vec<u8>, i64, String, i64) =
        sqlx::query_as("SELECT raw, size, hash, kept FROM quarantine")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(raw, &big[..256]);
    assert_eq!(size, 2 << 20);
    assert_eq!(hash, hex::encode(Sha256::digest(&big)));
    assert!(kept < 1024, "{kept}");

    // Fill the 1 MiB quota with batches of rejected lines until a batch is refused.
    // Then single lines until not even one fits.
    let line = vec![b'y'; 300];
    for (size, refusals) in [(200, 1), (1, 2)] {
        let batch: Vec<&[u8]> = vec![&line; size];
        let mut refused = None;
        for _ in 0..1000 {
            if let Err(e) = ing.ingest(&batch, "test", now).await {
                refused = Some(e);
                break;
            }
        }
        let Some(StoreError::QuarantineFull { used, max }) = refused else {
            panic!("the quota was never reached: {refused:?}");
        };
        assert_eq!(max, 1 << 20);
        assert!(used <= 1 << 20);
        assert_eq!(ing.quarantine_full_refusals(), refusals);
    }
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
        .fetch_one(&pool)
        .await
        .unwrap();
    // A batch with a good event and a bad line is refused whole: the good one is not stored
    // either (nothing was acknowledged; the sender keeps both).
    let good = grade("g-after", "7,0");
    let err = ing
        .ingest(&[good.as_bytes(), b"{bad"], "test", now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QuarantineFull { .. }), "{err}");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE id = 'g-after'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    // Good input alone still goes in.
    let r = ing.ingest(&[good.as_bytes()], "test", now).await.unwrap();
    assert_eq!(status(&r[0]), "new");
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn http_answers_409_for_a_conflict_and_507_when_the_quarantine_is_full() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::parse(Path::new("test.toml"), &config_text(tmp.path(), true)).unwrap();
    let running = rustig::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let url = format!("http://{}/v1/events", running.http_addr.unwrap());
    let client = reqwest::Client::new();
    let post = |body: String, ndjson: bool| {
        let req = client.post(&url).body(body);
        let req = if ndjson {
            req.header("content-type", "application/x-ndjson")
        } else {
            req
        };
        async move {
            let r = req.send().await.unwrap();
            let code = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (code, retry, r.json::<Value>().await.unwrap())
        }
    };
    // Occurred "now": the listener refuses times far from the wall clock.
    let now = Utc::now().to_rfc3339();
    let g = |id: &str, v: &str| grade(id, v).replace("2026-11-23T10:00:00+01:00", &now);
    assert_eq!(post(g("h1", "5,4"), false).await.0, 202);
    let (code, _, body) = post(g("h1", "5,4"), false).await;
    assert_eq!((code, body["status"].as_str()), (202, Some("duplicate")));
    let (code, _, body) = post(g("h1", "9,9"), false).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["status"], "conflict");
    assert_eq!(body["quarantined"], true);
    let (code, _, body) = post(format!("{}\n{}\n", g("h2", "6,0"), g("h1", "1,0")), true).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["conflicts"], 1);
    assert_eq!(body["results"][1]["status"], "conflict");
    assert_eq!(body["results"][1]["line"], 2);

    // Rejected lines until the quota is full: then 507 with Retry-After, and nothing taken.
    for lines in [400, 1] {
        let garbage: String = (0..lines)
            .map(|_| format!("{}\n", "z".repeat(300)))
            .collect();
        let mut last = None;
        for _ in 0..1000 {
            let r = post(garbage.clone(), true).await;
            if r.0 != 400 {
                last = Some(r);
                break;
            }
        }
        let (code, retry, body) = last.expect("the quarantine never filled");
        assert_eq!(code, 507, "{body}");
        assert_eq!(retry.as_deref(), Some("300"));
    }
    let (code, _, _) = post(format!("{}\n{{bad\n", g("h3", "6,0")), true).await;
    assert_eq!(code, 507);
    let c = running.store.counts().await.unwrap();
    assert_eq!(
        c.events, 2,
        "h1 and h2; h3 came with a line that could not be kept"
    );
    running.shutdown().await;
}
