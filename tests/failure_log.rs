//! Send failures during an outage, through the real scheduler on a manual clock: the first
//! failure per channel and kind is logged, the rest summarised (`src/send/failure_log.rs`).
//! A test binary of its own: tracing caches per call site whether anyone listens, so a
//! subscriber of one test is not reliable while other tests log in parallel threads.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use common::release::Release;
use rustig::clock::Clock;
use rustig::config::Config;
use rustig::model::{ChannelKind, Directory};
use rustig::send::{Channel, Channels, Outgoing, SendError};

const CONFIG: &str = r#"timezone = "Europe/Amsterdam"
[weekend]
enabled = false
[grades]
classroom_first = "off"
[schools.coornhert]
name = "Coornhert Lyceum"
"#;

/// Always down, as a relay in an outage.
struct Down;

#[async_trait]
impl Channel for Down {
    async fn send(&self, _msg: &Outgoing) -> Result<(), SendError> {
        Err(SendError::Transient {
            message: "connection refused".into(),
            retry_after: None,
        })
    }
}

/// Warn lines written while `f` runs (this thread's subscriber).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_outage_is_logged_once_and_then_summarised_not_a_line_per_message() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // 40 students, one email message each, and the relay down.
    let students: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r#"{{"id":"s-{i}","school":"coornhert","name":"Leerling {i}","birth_date":"2011-03-14","class":"3c","contacts":[{{"email":"l{i}@example.nl"}}]}}"#
            )
        })
        .collect();
    let directory =
        Directory::parse(format!(r#"{{"students":[{}]}}"#, students.join(",")).as_bytes()).unwrap();
    let config = Config::parse(
        Path::new("t.toml"),
        &format!("{CONFIG}[delivery]\nretry_base = \"30s\"\nretry_max = \"30s\"\n"),
    )
    .unwrap();
    let channels = Channels::default().with(ChannelKind::Email, Arc::new(Down));
    let r = Release::new(
        config,
        directory,
        channels,
        "2026-11-24T10:00:00+01:00",
        |d| d,
    )
    .await;
    for i in 0..40 {
        let raw = format!(
            r#"{{"id":"e{i}","type":"grade.entered","school":"coornhert","occurred_at":"2026-11-24T10:00:00+01:00","record":"r{i}","student":"s-{i}","grade":{{"assessment":"a{i}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,5","kind":"test"}}}}"#
        );
        r.ingest(&raw).await;
    }
    let t0 = r.clock.now();
    assert_eq!(r.tick(t0).await, 0);
    // The retries, two minutes later: 80 failed attempts in all.
    assert_eq!(r.tick(t0 + Duration::minutes(2)).await, 0);
    let n = &r.notices("e0").await[0];
    assert_eq!(n.attempts, 2, "{n:?}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("send failed: connection refused") && lines[0].contains("email"),
        "{text}"
    );
    assert!(lines[1].contains("40 more"), "{text}");
    assert!(!text.contains("l0@example.nl"), "no addresses: {text}");
}
