//! The `rustig` binary against a real SMTP server: killed with SIGKILL mid-way, started
//! again, it loses nothing and sends nothing twice; SIGTERM stops it cleanly with exit 0.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::{post_ndjson, BaseConfig};

fn write_config(tmp: &Path, http: u16, smtp: u16) -> std::path::PathBuf {
    BaseConfig::new(tmp)
        .http(http)
        .smtp(smtp)
        .no_quiet_times()
        .extra(
            r#"[grades]
classroom_first = "off"
guardian_delay = "4s"
[digest]
guardians = "immediate"
"#,
        )
        .write()
}

async fn sent_in_store(tmp: &Path) -> i64 {
    let url = format!("sqlite://{}/rustig.db?mode=ro", tmp.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE state = 'sent'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn grade(id: &str, student: &str, occurred: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{occurred}","record":"r-{id}","student":"{student}","grade":{{"assessment":"a-{id}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,1","kind":"test"}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_resumes_without_losing_or_doubling() {
    let tmp = tempfile::tempdir().unwrap();
    let (smtp, inbox) = common::start_server();
    let http = common::free_port();
    let config = write_config(tmp.path(), http, smtp);

    let mut daemon = common::start_daemon(&config);
    common::wait_ready(http).await;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let body = ["g-1", "g-2", "g-3"]
        .iter()
        .zip(["s-1001", "s-1002", "s-1003"])
        .map(|(id, s)| grade(id, s, &now))
        .collect::<Vec<_>>()
        .join("\n");
    let r = post_ndjson(http, body).await;
    assert_eq!(r.status(), 202);

    // The three students hear at once; their guardians are due 4 s later.
    wait_for("the students' messages", || {
        inbox.lock().unwrap().len() == 3
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent_in_store(tmp.path()).await < 3 {
        assert!(Instant::now() < deadline, "sends not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.kill().unwrap(); // SIGKILL: no goodbye
    daemon.wait().unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 3, "guardians were not due yet");

    // Started again, it sends what was still pending, once.
    let mut daemon = common::start_daemon(&config);
    common::wait_ready(http).await;
    // Merel's two guardians; Anna, Daan's mother too, gets one message about both children.
    // Sanne (18) did not grant her guardians access.
    wait_for("the guardians' messages", || {
        inbox.lock().unwrap().len() >= 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // SIGTERM: clean stop, exit 0.
    let pid = daemon.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = daemon.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");

    let mail = inbox.lock().unwrap().clone();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in &mail {
        *ids.entry(m.header("Message-ID").expect("Message-ID"))
            .or_default() += 1;
    }
    assert!(
        ids.values().all(|n| *n == 1),
        "a message was sent twice: {ids:?}"
    );
    let mut to: Vec<String> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            "anna@example.nl",
            "daan@leerling.example",
            "merel@leerling.example",
            "peter@example.com",
            "sanne@leerling.example",
        ]
    );
    assert_eq!(sent_in_store(tmp.path()).await, 6);
}
