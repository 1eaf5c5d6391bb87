//! Events for a student the directory does not list yet (issue 13, "no silent failures"), on
//! the daemon in process with its admin API over HTTP, on a manual clock, on both stores:
//! accepted and counted as unresolved, planned and sent once an import adds the student, and
//! dead with their reason when `[directory] unresolved_hold` runs out.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::daemon::{quiesce, BaseConfig};
use rustig::clock::{Clock, ManualClock};
use rustig::config::Config;
use rustig::daemon::Running;

const OPERATE: &str = "operate-token-0123456789abcdef";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// No `[directory] file`: the directory comes through `PUT /v1/directory`.
fn config(tmp: &Path, store_url: &str, hold: &str) -> Config {
    std::fs::write(tmp.join("operate.token"), format!("ops {OPERATE}\n")).unwrap();
    BaseConfig::new(tmp)
        .store(store_url)
        .directory(&format!("unresolved_hold = \"{hold}\""))
        .extra(&format!(
            r#"[admin]
listen = "127.0.0.1:0"
operate_token_file = "{tmp}/operate.token"
"#,
            tmp = tmp.display(),
        ))
        .parse()
}

/// The example directory, without `leave_out` when given.
fn directory(leave_out: Option<&str>) -> String {
    let text = std::fs::read_to_string(repo().join("config/directory.example.json")).unwrap();
    let mut dir: serde_json::Value = serde_json::from_str(&text).unwrap();
    if let Some(id) = leave_out {
        dir["students"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["id"] != id);
    }
    dir.to_string()
}

fn grade(id: &str, student: &str, occurred_at: &str) -> String {
    serde_json::json!({
        "id": id, "type": "grade.entered", "school": "coornhert", "occurred_at": occurred_at,
        "record": format!("r-{id}"), "student": student,
        "grade": {"assessment": "a-1", "subject": "wiskunde", "class": "3c",
                  "description": "Toets H3", "value": "7,5", "numeric": 7.5, "kind": "test"}
    })
    .to_string()
}

struct Api {
    admin: std::net::SocketAddr,
    http: std::net::SocketAddr,
    client: reqwest::Client,
}

impl Api {
    fn new(d: &Running) -> Api {
        Api {
            admin: d.admin_addr.unwrap(),
            http: d.http_addr.unwrap(),
            client: reqwest::Client::new(),
        }
    }

    async fn put_directory(&self, body: String) {
        let r = self
            .client
            .put(format!("http://{}/v1/directory", self.admin))
            .bearer_auth(OPERATE)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn post_event(&self, line: String) {
        let r = self
            .client
            .post(format!("http://{}/v1/events", self.http))
            .header("content-type", "application/json")
            .body(line)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let r = self
            .client
            .get(format!("http://{}{path}", self.admin))
            .bearer_auth(OPERATE)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// `(unresolved, unresolved_dead)` of the school in `/v1/status`.
    async fn unresolved(&self) -> (i64, i64) {
        let status = self.get("/v1/status").await;
        let school = status["schools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["school"] == "coornhert")
            .unwrap()
            .clone();
        (
            school["unresolved"].as_i64().unwrap(),
            school["unresolved_dead"].as_i64().unwrap(),
        )
    }
}

fn outbox_to(tmp: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(tmp.join("outbox")) else {
        return vec![];
    };
    let mut to: Vec<String> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .find(|l| l.starts_with("To: "))
                .map(|l| l.trim_start_matches("To: ").to_string())
        })
        .collect();
    to.sort();
    to
}

async fn planned_after_import(tmp: &Path, store_url: &str) {
    // Monday 10:00: nothing holds a test grade for the student.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00+01:00")));
    let d = rustig::daemon::start(config(tmp, store_url, "7d"), clock.clone())
        .await
        .unwrap();
    let api = Api::new(&d);
    api.put_directory(directory(Some("s-1001"))).await;
    api.post_event(grade("evt-u1", "s-1001", "2026-11-23T09:55:00+01:00"))
        .await;
    // A second event for the same student is counted, not said again.
    api.post_event(grade("evt-u2", "s-1001", "2026-11-23T09:56:00+01:00"))
        .await;
    assert_eq!(api.unresolved().await, (2, 0));
    let report = api.get("/v1/events/evt-u1").await;
    assert_eq!(report["state"], "unresolved", "{report}");
    assert!(
        report["text"]
            .as_str()
            .unwrap()
            .contains("unresolved since"),
        "{report}"
    );
    assert!(d.store.notices_of_event("evt-u1").await.unwrap().is_empty());

    // The directory catches up: both are planned at once and wait no longer.
    api.put_directory(directory(None)).await;
    assert_eq!(api.unresolved().await, (0, 0));
    let notices = d.store.notices_of_event("evt-u1").await.unwrap();
    assert!(!notices.is_empty());
    assert!(!d.store.notices_of_event("evt-u2").await.unwrap().is_empty());
    assert_eq!(api.get("/v1/events/evt-u1").await["state"], "planned");

    // ... and sent when due.
    let due = notices.iter().map(|n| n.due_at).max().unwrap();
    clock.set(due.max(clock.now()) + Duration::minutes(1));
    d.shared.wake.notify_one();
    quiesce(&d, &clock).await;
    let to = outbox_to(tmp);
    assert!(
        to.iter().any(|t| t.contains("merel@leerling.example")),
        "{to:?}"
    );
    d.shutdown().await;
}

async fn dead_after_the_hold(tmp: &Path, store_url: &str) {
    let clock = Arc::new(ManualClock::new(at("2026-11-23T10:00:00+01:00")));
    let d = rustig::daemon::start(config(tmp, store_url, "5s"), clock.clone())
        .await
        .unwrap();
    let api = Api::new(&d);
    api.put_directory(directory(None)).await;
    api.post_event(grade("evt-x1", "s-9999", "2026-11-23T09:55:00+01:00"))
        .await;
    assert_eq!(api.unresolved().await, (1, 0));
    clock.advance(Duration::seconds(30));
    // The loop looks every second for a hold this short.
    let mut counts = (1, 0);
    for _ in 0..100 {
        counts = api.unresolved().await;
        if counts == (0, 1) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(counts, (0, 1));
    let report = api.get("/v1/events/evt-x1").await;
    assert_eq!(report["state"], "dead", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("unresolved_hold (5s)"), "{reason}");
    assert!(
        report["text"].as_str().unwrap().contains(reason),
        "{report}"
    );
    // An import after it died does not bring it back.
    api.put_directory(directory(None)).await;
    assert_eq!(api.unresolved().await, (0, 1));
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_event_for_an_unknown_student_is_planned_after_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rustig.db", tmp.path().display());
    planned_after_import(tmp.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_unresolved_event_is_dead_after_the_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rustig.db", tmp.path().display());
    dead_after_the_hold(tmp.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_event_for_an_unknown_student_is_planned_after_the_import() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    planned_after_import(tmp.path(), &pg.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_unresolved_event_is_dead_after_the_hold() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    dead_after_the_hold(tmp.path(), &pg.url).await;
}
