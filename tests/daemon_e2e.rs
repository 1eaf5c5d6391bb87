//! The daemon end to end, in process, on a manual clock: events posted over HTTP, notices held
//! by the rules, `.eml` files appearing in the outbox exactly when they are due.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::daemon::{quiesce, BaseConfig};
use rustig::clock::{Clock, ManualClock};
use rustig::config::Config;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config(tmp: &Path, extra: &str) -> Config {
    BaseConfig::new(tmp).extra(extra).parse()
}

fn event_line(id: &str) -> String {
    let all = std::fs::read_to_string(repo().join("config/events.example.ndjson")).unwrap();
    all.lines()
        .find(|l| l.contains(&format!("\"id\":\"{id}\"")))
        .unwrap()
        .to_string()
}

/// The outbox's messages, as (file name, content), sorted.
fn outbox(tmp: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(tmp.join("outbox")) else {
        return vec![];
    };
    let mut out: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn post(addr: std::net::SocketAddr, ct: &str, body: String) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/events"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn recipients(mail: &[(String, String)]) -> Vec<String> {
    let mut to: Vec<String> = mail
        .iter()
        .map(|(_, m)| {
            m.lines()
                .find(|l| l.starts_with("To: "))
                .unwrap()
                .trim_start_matches("To: ")
                .to_string()
        })
        .collect();
    to.sort();
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grade_becomes_email_at_the_right_times() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-20T21:14:00+01:00")));
    let d = rustig::daemon::start(config(tmp.path(), ""), clock.clone())
        .await
        .unwrap();
    let addr = d.http_addr.unwrap();

    // Friday night: the grade is accepted (and a redelivery is harmless) ...
    let (status, body) = post(addr, "application/json", event_line("evt-1")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("accepted")),
        "{body}"
    );
    let (status, body) = post(addr, "application/json", event_line("evt-1")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "{body}"
    );
    // ... and a broken one is refused with the field named, and quarantined.
    let broken = event_line("evt-1")
        .replace("\"evt-1\"", "\"evt-x\"")
        .replace("\"test\"", "\"quiz\"");
    let (status, body) = post(addr, "application/json", broken).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "grade.kind");
    assert_eq!(d.store.counts().await.unwrap().quarantined, 1);

    // Nothing goes out over the weekend, nor on Monday morning before the test is discussed.
    for t in [
        "2026-11-21T10:00:00+01:00",
        "2026-11-23T07:00:00+01:00",
        "2026-11-23T11:04:00+01:00",
    ] {
        clock.set(at(t));
        quiesce(&d, &clock).await;
        assert!(outbox(tmp.path()).is_empty(), "nothing due at {t}");
    }

    // The release in class at 11:05 lets Merel's email out at once.
    clock.set(at("2026-11-23T11:05:00+01:00"));
    let (status, body) = post(addr, "application/x-ndjson", event_line("evt-4") + "\n").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted");
    quiesce(&d, &clock).await;
    let mail = outbox(tmp.path());
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].1.contains("merel@leerling.example"));
    assert!(mail[0].1.contains("Message-ID: <"));
    assert!(mail[0].1.contains("5,4"), "the email shows the grade");

    // Guardians: not before the student + 24h, then in their 17:00 digest.
    clock.set(at("2026-11-24T16:59:00+01:00"));
    quiesce(&d, &clock).await;
    assert_eq!(outbox(tmp.path()).len(), 1);
    clock.set(at("2026-11-24T17:00:00+01:00"));
    quiesce(&d, &clock).await;
    let mail = outbox(tmp.path());
    assert_eq!(mail.len(), 3, "{mail:?}");
    let to = recipients(&mail);
    assert!(to.iter().any(|t| t.contains("anna@example.nl")), "{to:?}");
    assert!(to.iter().any(|t| t.contains("peter@example.com")), "{to:?}");
    let c = d.store.counts().await.unwrap();
    assert_eq!((c.sent, c.pending, c.dead), (3, 0, 0));
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_correction_alarms_nobody() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-23T08:40:00+01:00")));
    let d = rustig::daemon::start(config(tmp.path(), ""), clock.clone())
        .await
        .unwrap();
    let addr = d.http_addr.unwrap();
    let (status, _) = post(addr, "application/json", event_line("evt-2")).await;
    assert_eq!(status, 202);
    // The office corrects "unauthorized" to "sick" within the 45-minute settle window.
    clock.set(at("2026-11-23T09:05:00+01:00"));
    let (status, _) = post(addr, "application/json", event_line("evt-3")).await;
    assert_eq!(status, 202);
    clock.set(at("2026-11-24T18:00:00+01:00"));
    quiesce(&d, &clock).await;
    assert!(outbox(tmp.path()).is_empty());
    assert_eq!(d.store.counts().await.unwrap().sent, 0);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsettled_absence_reaches_guardians_after_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-23T08:40:00+01:00")));
    let d = rustig::daemon::start(config(tmp.path(), ""), clock.clone())
        .await
        .unwrap();
    let (status, _) = post(
        d.http_addr.unwrap(),
        "application/json",
        event_line("evt-2"),
    )
    .await;
    assert_eq!(status, 202);
    clock.set(at("2026-11-23T09:24:00+01:00"));
    quiesce(&d, &clock).await;
    assert!(outbox(tmp.path()).is_empty(), "still settling");
    clock.set(at("2026-11-23T09:25:00+01:00"));
    quiesce(&d, &clock).await;
    let mail = outbox(tmp.path());
    assert_eq!(recipients(&mail).len(), 1);
    assert!(recipients(&mail)[0].contains("anna@example.nl"));
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_checks_the_bearer_token_and_body_size() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("token"), "s3cret\n").unwrap();
    let mut cfg = config(tmp.path(), "");
    let http = cfg.http.as_mut().unwrap();
    http.token_file = Some(tmp.path().join("token"));
    http.limits.max_body_bytes = 4096;
    let clock = Arc::new(ManualClock::new(at("2026-11-20T21:14:00+01:00")));
    let d = rustig::daemon::start(cfg, clock).await.unwrap();
    let url = format!("http://{}/v1/events", d.http_addr.unwrap());
    let client = reqwest::Client::new();
    let send = |token: Option<&'static str>, body: String| {
        let mut r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(send(None, event_line("evt-1")).await.unwrap().status(), 401);
    assert_eq!(
        send(Some("wrong"), event_line("evt-1"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send(Some("s3cret"), event_line("evt-1"))
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        send(Some("s3cret"), "x".repeat(5000))
            .await
            .unwrap()
            .status(),
        413
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_batches_report_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-26T10:00:00+01:00")));
    let d = rustig::daemon::start(config(tmp.path(), ""), clock)
        .await
        .unwrap();
    let body = format!(
        "{}\n\n{}\n{{\"id\":\"bad\"}}\n{}\n",
        event_line("evt-1"),
        event_line("evt-2"),
        event_line("evt-1")
    );
    let (status, r) = post(d.http_addr.unwrap(), "application/x-ndjson", body).await;
    assert_eq!(status, 202, "{r}");
    assert_eq!(
        (
            r["accepted"].as_u64(),
            r["duplicates"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let lines: Vec<u64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![1, 3, 4, 5]);
    assert_eq!(r["results"][2]["status"], "rejected");
    assert!(
        r["results"][2]["error"].as_str().unwrap().contains("type"),
        "{r}"
    );
    let c = d.store.counts().await.unwrap();
    assert_eq!((c.events, c.quarantined), (2, 1));
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replans_pending_notices_under_the_new_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-20T21:14:00+01:00")));
    let d = rustig::daemon::start(config(tmp.path(), ""), clock.clone())
        .await
        .unwrap();
    let (status, _) = post(
        d.http_addr.unwrap(),
        "application/json",
        event_line("evt-1"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        d.store.counts().await.unwrap().pending,
        3,
        "Merel and both guardians"
    );
    let guardian_due = |ns: &[rustig::store::StoredNotice]| {
        ns.iter()
            .find(|n| n.recipient == "g-2001")
            .map(|n| n.due_at)
    };
    let before = guardian_due(&d.store.notices_of_event("evt-1").await.unwrap()).unwrap();

    // A longer guardian delay moves the guardians' notices ...
    let longer = config(
        tmp.path(),
        "[schools.coornhert.grades]\nguardian_delay = \"48h\"\n",
    );
    assert_eq!(d.reload(longer, clock.now()).await.unwrap(), 1);
    let after = guardian_due(&d.store.notices_of_event("evt-1").await.unwrap()).unwrap();
    assert!(after > before, "{before} → {after}");
    // ... and guardians = "none" withdraws them; the student's stays.
    let none = config(
        tmp.path(),
        "[schools.coornhert.grades]\nguardians = \"none\"\n",
    );
    d.reload(none, clock.now()).await.unwrap();
    let left = d.store.notices_of_event("evt-1").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].recipient, "s-1001");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_directory_is_taken_on_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let no_file = |c: Config| Config {
        directory_file: None,
        ..c
    };
    let clock = Arc::new(ManualClock::new(at("2026-11-24T10:00:00+01:00")));
    let d = rustig::daemon::start(no_file(config(tmp.path(), "")), clock.clone())
        .await
        .unwrap();
    assert_eq!(d.shared.directory().len(), 0);
    // What `rustig import-directory` does, while the daemon runs; then SIGHUP.
    let dir =
        rustig::reload::read_directory(&repo().join("config/directory.example.json")).unwrap();
    d.store
        .save_directory(&dir.to_json(), clock.now())
        .await
        .unwrap();
    d.reload(no_file(config(tmp.path(), "")), clock.now())
        .await
        .unwrap();
    assert_eq!(d.shared.directory().len(), 3);
    let (status, _) = post(
        d.http_addr.unwrap(),
        "application/json",
        event_line("evt-6"),
    )
    .await;
    assert_eq!(status, 202);
    assert!(!d.store.notices_of_event("evt-6").await.unwrap().is_empty());
    d.shutdown().await;
}
