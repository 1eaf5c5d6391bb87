//! A daemon with the preference page on a manual clock, a small directory (a 15- and a
//! 16-year-old with their guardians), and the helpers the page tests share.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rustig::clock::{Clock, ManualClock};
use rustig::config::Config;
use rustig::daemon::Running;

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub const DIRECTORY: &str = r#"{
  "students": [
    {"id": "s-15", "school": "coornhert", "name": "Merel de Jong", "birth_date": "2011-03-14",
     "class": "3c", "locale": "nl", "contacts": [{"email": "merel@leerling.example"}],
     "guardians": [
       {"id": "g-2001", "name": "Anna de Jong", "locale": "nl", "contacts": [{"email": "anna@example.nl"}]},
       {"id": "g-2002", "name": "Peter Jansen", "locale": "en", "contacts": [{"email": "peter@example.com"}]}
     ]},
    {"id": "s-16", "school": "coornhert", "name": "Sanne Visser", "birth_date": "2010-06-01",
     "class": "4h", "locale": "nl", "contacts": [{"email": "sanne@leerling.example"}],
     "guardians": [
       {"id": "g-3001", "name": "Karin Visser", "locale": "nl", "contacts": [{"email": "karin@example.nl"}]}
     ]}
  ]
}"#;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub d: Running,
    /// `http://localhost:PORT/`
    pub base: String,
    pub config_path: PathBuf,
}

pub fn config_text(tmp: &Path, port: u16) -> String {
    format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[directory]
file = "{tmp}/directory.json"
[ingest.http]
listen = "127.0.0.1:0"
[email]
transport = "file"
dir = "{tmp}/outbox"
from = "Coornhert Lyceum <noreply@coornhert.example>"
[quiet_hours]
start = "20:00"
end = "07:00"
[weekend]
from = "fri 18:00"
until = "mon 07:00"
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
[consent]
student_controls = "from_16"
adult_needs_consent = true
[preferences]
listen = "127.0.0.1:{port}"
base_url = "http://localhost:{port}/"
key_file = "{tmp}/links.key"
per_link_per_minute = 1000
per_address_per_minute = 10000
[admin]
listen = "127.0.0.1:0"
read_token_file = "{tmp}/admin-read.token"
operate_token_file = "{tmp}/admin-operate.token"
[schools.coornhert]
name = "Coornhert Lyceum"
"#,
        tmp = tmp.display()
    )
}

/// Admin tokens of the fixture's admin listener: a read one (`desk`), an operate one (`mentor`).
pub const ADMIN_READ: &str = "read-token-of-the-front-desk";
pub const ADMIN_OPERATE: &str = "operate-token-of-the-mentor";

pub async fn start(now: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(tmp.path().join("directory.json"), DIRECTORY).unwrap();
    let (keys, _) = rustig::prefs::token::rotate("", at(now), Duration::days(30));
    std::fs::write(tmp.path().join("links.key"), keys).unwrap();
    std::fs::write(
        tmp.path().join("admin-read.token"),
        format!("desk {ADMIN_READ}\n"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("admin-operate.token"),
        format!("mentor {ADMIN_OPERATE}\n"),
    )
    .unwrap();
    let config_path = tmp.path().join("rustig.toml");
    std::fs::write(&config_path, config_text(tmp.path(), port)).unwrap();
    let config = Config::load(&config_path).unwrap();
    let clock = Arc::new(ManualClock::new(at(now)));
    let d = rustig::daemon::start(config, clock.clone()).await.unwrap();
    assert_eq!(d.prefs_addr.unwrap().port(), port);
    Fixture {
        tmp,
        clock,
        d,
        base: format!("http://localhost:{port}/"),
        config_path,
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Fixture {
    /// Posts one event to the ingest listener.
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
        for _ in 0..500 {
            let next = self.d.store.next_due().await.unwrap();
            let counts = self.d.store.counts().await.unwrap();
            if counts.claimed == 0 && next.is_none_or(|n| n > self.clock.now()) {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        panic!("the dispatcher did not catch up with the clock");
    }

    /// The outbox's messages as (file name, raw text), sorted.
    pub fn outbox(&self) -> Vec<(String, String)> {
        let Ok(rd) = std::fs::read_dir(self.tmp.path().join("outbox")) else {
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

    /// The raw messages to an address.
    pub fn mail_to(&self, address: &str) -> Vec<String> {
        self.outbox()
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| {
                m.lines()
                    .any(|l| l.starts_with("To: ") && l.contains(address))
            })
            .collect()
    }

    /// The pending or sent notices of an event, as (recipient, due_at, rules).
    pub async fn notices(&self, event: &str) -> Vec<(String, DateTime<Utc>, Vec<String>)> {
        let mut v: Vec<_> = self
            .d
            .store
            .notices_of_event(event)
            .await
            .unwrap()
            .into_iter()
            .map(|n| {
                (
                    n.recipient,
                    n.due_at,
                    n.reasons
                        .iter()
                        .map(|r| r.rule.label().to_string())
                        .collect(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

pub fn grade(id: &str, student: &str, at: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "type": "grade.entered", "school": "coornhert", "occurred_at": at,
        "record": format!("r-{id}"), "student": student,
        "grade": {"assessment": format!("a-{id}"), "subject": "wiskunde", "class": "3c",
                  "description": "Toets H3", "value": "6,8", "kind": kind}
    })
}

pub fn absence(id: &str, student: &str, at: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "type": "absence.registered", "school": "coornhert", "occurred_at": at,
        "record": format!("r-{id}"), "student": student,
        "absence": {"kind": "unauthorized", "start": at, "period": 1}
    })
}

/// The text part of a raw message, decoded (quoted-printable or base64 as the writer chose).
pub fn text_part(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let start = raw.find("Content-Type: text/plain").expect("a text part");
    let part = &raw[start..];
    let (head, body) = part.split_once("\n\n").unwrap();
    // Up to the next MIME boundary (`--` and the boundary; the signature line is `-- `).
    let body = match raw.split_once("boundary=\"") {
        Some((_, rest)) => {
            let boundary = rest.split('"').next().unwrap();
            body.split(&format!("\n--{boundary}")).next().unwrap()
        }
        None => body,
    };
    if head.contains("quoted-printable") {
        String::from_utf8(
            quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust).unwrap(),
        )
        .unwrap()
    } else if head.contains("base64") {
        use base64::Engine;
        let b: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
    } else {
        body.to_string()
    }
}

/// The preference link in a message's text part.
pub fn settings_link(raw: &str) -> String {
    let text = text_part(raw);
    let i = text
        .find("Berichtinstellingen / Message settings:")
        .unwrap_or_else(|| panic!("no settings link in:\n{text}"));
    text[i..].lines().nth(1).unwrap().trim().to_string()
}

/// An unfolded header of a raw message.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let raw = raw.replace("\r\n", "\n");
    let head = raw
        .split("\n\n")
        .next()
        .unwrap()
        .replace("\n ", " ")
        .replace("\n\t", " ");
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

/// The value of the hidden form field `name` in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + pat.len();
    page[i..].split('"').next().unwrap().to_string()
}
