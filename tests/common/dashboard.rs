//! A daemon for the dashboard tests on a scripted week: Coornhert Lyceum in Amsterdam,
//! Monday 23 November 2026 09:00, quiet hours 20:00–07:00, the weekend from Friday 18:00,
//! Thursday 26 November a holiday; guardians hear about grades a day later. Mail goes to
//! the test SMTP server, which refuses `common::GONE` for good (a dead notice). The admin
//! listener has a read token (`desk`) and an operate token (`mentor`).
//!
//! Included with `#[path = "common/dashboard.rs"] mod dash;` next to `mod common;`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use rustig::clock::{Clock, ManualClock};
use rustig::config::Config;
use rustig::daemon::Running;

pub const READ: &str = "read-token-of-the-front-desk";
pub const OPERATE: &str = "operate-token-of-the-mentor";
pub const START: &str = "2026-11-23T09:00:00+01:00";

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Two students of 3c and 4h; s-gone's own address is refused by the relay.
pub const DIRECTORY: &str = r#"{
  "students": [
    {"id": "s-1", "school": "coornhert", "name": "Merel de Jong", "birth_date": "2011-03-14",
     "class": "3c", "locale": "nl", "contacts": [{"email": "merel@leerling.example"}],
     "guardians": [
       {"id": "g-1", "name": "Anna de Jong", "locale": "nl", "contacts": [{"email": "anna@example.nl"}]}
     ]},
    {"id": "s-gone", "school": "coornhert", "name": "Sanne Visser", "birth_date": "2010-06-01",
     "class": "4h", "locale": "nl", "contacts": [{"email": "gone@example.nl"}],
     "guardians": [
       {"id": "g-2", "name": "Karin Visser", "locale": "en", "contacts": [{"email": "karin@example.nl"}]}
     ]}
  ]
}"#;

pub fn config_text(tmp: &std::path::Path, smtp: u16) -> String {
    format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[directory]
file = "{tmp}/directory.json"
[ingest.http]
listen = "127.0.0.1:0"
[email]
transport = "smtp"
url = "smtp://127.0.0.1:{smtp}"
from = "Coornhert Lyceum <noreply@coornhert.example>"
[delivery]
retry_base = "1s"
[quiet_hours]
start = "20:00"
end = "07:00"
[weekend]
from = "fri 18:00"
until = "mon 07:00"
[holidays]
dates = ["2026-11-26"]
[grades]
classroom_first = "off"
guardian_delay = "24h"
guardians = "all"
[absences]
settle = "45m"
guardians = {{ unauthorized = "immediate", late = "digest" }}
[digest]
students = "immediate"
guardians = "0 17 * * mon-fri"
[admin]
listen = "127.0.0.1:0"
read_token_file = "{tmp}/read.token"
operate_token_file = "{tmp}/operate.token"
[schools.coornhert]
name = "Coornhert Lyceum"
"#,
        tmp = tmp.display()
    )
}

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub d: Running,
    /// `http://127.0.0.1:PORT` of the admin listener (the dashboard).
    pub base: String,
    pub config_path: std::path::PathBuf,
    pub inbox: super::common::Inbox,
}

/// The daemon at [`START`], nothing ingested yet.
pub async fn start() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (smtp, inbox) = super::common::start_server();
    std::fs::write(tmp.path().join("directory.json"), DIRECTORY).unwrap();
    std::fs::write(tmp.path().join("read.token"), format!("desk {READ}\n")).unwrap();
    std::fs::write(
        tmp.path().join("operate.token"),
        format!("mentor {OPERATE}\n"),
    )
    .unwrap();
    let config_path = tmp.path().join("rustig.toml");
    std::fs::write(&config_path, config_text(tmp.path(), smtp)).unwrap();
    let config = Config::load(&config_path).unwrap();
    let clock = Arc::new(ManualClock::new(at(START)));
    let d = rustig::daemon::start(config, clock.clone()).await.unwrap();
    let base = format!("http://{}", d.admin_addr.unwrap());
    Fixture {
        tmp,
        clock,
        d,
        base,
        config_path,
        inbox,
    }
}

pub fn grade(id: &str, student: &str, at: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "type": "grade.entered", "school": "coornhert", "occurred_at": at,
        "record": format!("r-{id}"), "student": student,
        "grade": {"assessment": format!("a-{id}"), "subject": "wiskunde", "class": "3c",
                  "description": "Toets H3", "value": "6,8", "kind": "test"}
    })
}

pub fn absence(id: &str, student: &str, at: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "type": "absence.registered", "school": "coornhert", "occurred_at": at,
        "record": format!("r-{id}"), "student": student,
        "absence": {"kind": "unauthorized", "start": at, "period": 1}
    })
}

impl Fixture {
    pub async fn post(&self, event: serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("http://{}/v1/events", self.d.http_addr.unwrap()))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }

    /// Sets the clock and waits until everything due has been handled.
    pub async fn at(&self, t: &str) {
        self.clock.set(at(t));
        self.settle().await;
    }

    pub async fn settle(&self) {
        for _ in 0..1000 {
            let next = self.d.store.next_due().await.unwrap();
            let counts = self.d.store.counts().await.unwrap();
            if counts.claimed == 0 && next.is_none_or(|n| n > self.clock.now()) {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        panic!("the dispatcher did not catch up with the clock");
    }

    /// The scripted week: grades and an absence on Monday morning (s-gone's own notice
    /// dies at the relay), one more grade at 19:30 whose guardians' notice falls on Tuesday
    /// evening's quiet hours and waits for Wednesday 07:00.
    pub async fn script_week(&self) {
        self.post(grade("g-1", "s-1", START)).await;
        self.post(grade("g-2", "s-gone", START)).await;
        self.post(absence("abs-1", "s-1", START)).await;
        self.at("2026-11-23T09:01:00+01:00").await;
        self.wait_dead(1).await;
        self.at("2026-11-23T19:30:00+01:00").await;
        self.post(grade("g-3", "s-1", "2026-11-23T19:30:00+01:00"))
            .await;
        self.at("2026-11-23T19:31:00+01:00").await;
    }

    /// Waits until `n` notices are dead.
    pub async fn wait_dead(&self, n: i64) {
        for _ in 0..500 {
            if self.d.store.counts().await.unwrap().dead >= n {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        panic!("no {n} dead notice(s)");
    }

    /// The pending notices' due times.
    pub async fn pending_due(&self) -> Vec<DateTime<Utc>> {
        let filter = rustig::store::admin::NoticeFilter {
            state: Some("pending".into()),
            ..Default::default()
        };
        let rows = self
            .d
            .store
            .views()
            .notices(&filter, None, 1000)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.notice.due_at).collect()
    }

    /// The distinct hours of the pending notices due in the seven days from the current hour
    /// (the bars the week chart should draw).
    pub async fn busy_hours(&self) -> usize {
        use chrono::{Duration, DurationRound};
        let now = self.clock.now();
        let from = now.duration_trunc(Duration::hours(1)).unwrap();
        let mut hours: Vec<DateTime<Utc>> = self
            .pending_due()
            .await
            .into_iter()
            .filter(|t| *t >= now && *t < from + Duration::days(7))
            .map(|t| t.duration_trunc(Duration::hours(1)).unwrap())
            .collect();
        hours.sort();
        hours.dedup();
        hours.len()
    }

    /// The audit trail's (actor, action, target).
    pub async fn audit(&self) -> Vec<(String, String, String)> {
        let rows = self
            .d
            .store
            .audit()
            .list(&Default::default(), None, 1000)
            .await
            .unwrap();
        rows.into_iter()
            .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
            .collect()
    }
}
