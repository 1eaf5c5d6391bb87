//! A contact on a channel whose table the config lacks (`fcm` without `[fcm]`) is never a
//! silent failure (issue 13): `rustig check --directory` warns, planning warns once per
//! channel, the status counts the contacts, and `rustig simulate` marks such messages as
//! undeliverable instead of listing them as sent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{BaseConfig, Daemon};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example directory with an FCM token for every guardian of s-1001 (two people).
fn directory(tmp: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("config/directory.example.json")).unwrap();
    let mut dir: serde_json::Value = serde_json::from_str(&text).unwrap();
    for s in dir["students"].as_array_mut().unwrap() {
        if s["id"] == "s-1001" {
            for g in s["guardians"].as_array_mut().unwrap() {
                let token = format!("token-{}", g["id"].as_str().unwrap());
                g["contacts"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({ "fcm": token }));
            }
        }
    }
    let path = tmp.join("directory.json");
    std::fs::write(&path, dir.to_string()).unwrap();
    path
}

fn write_config(tmp: &Path, http: u16) -> PathBuf {
    BaseConfig::new(tmp).directory_in_tmp().http(http).write()
}

fn rustig(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(args)
        .env("RUSTIG_LOG", "error")
        .output()
        .unwrap()
}

#[test]
fn check_warns_about_contacts_on_a_channel_without_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path());
    let config = write_config(tmp.path(), 1);
    let out = rustig(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // A warning, not an error: the directory may run ahead of the config.
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("2 contact(s) on fcm") && warnings[0].contains("no [fcm] table"),
        "{err}"
    );
    // The example directory has none.
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["check", "--config", "config/rustig.toml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning:"));
}

#[test]
fn simulate_marks_messages_on_a_channel_without_its_table_undeliverable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory(tmp.path());
    let config = write_config(tmp.path(), 1);
    let events = tmp.path().join("events.ndjson");
    std::fs::write(
        &events,
        common::grade_line("evt-f1", "s-1001", "2026-11-23T10:00:00+01:00"),
    )
    .unwrap();
    let out = rustig(&[
        "simulate",
        "--config",
        config.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fcm: Vec<&serde_json::Value> = lines.iter().filter(|l| l["channel"] == "fcm").collect();
    assert_eq!(fcm.len(), 2, "{lines:?}");
    for l in &fcm {
        assert_eq!(l["type"], "undeliverable", "{l}");
        assert!(l["why"].as_str().unwrap().contains("[fcm]"), "{l}");
    }
    // Email is configured: its lines are messages as before, without a type.
    let email: Vec<&serde_json::Value> = lines.iter().filter(|l| l["channel"] == "email").collect();
    assert!(!email.is_empty());
    assert!(email.iter().all(|l| l.get("type").is_none()), "{email:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_warns_once_per_channel_and_status_counts_the_contacts() {
    let tmp = tempfile::tempdir().unwrap();
    directory(tmp.path());
    let http = common::free_port();
    let config = write_config(tmp.path(), http);
    let stderr = tmp.path().join("stderr");
    let child = Daemon::logging_to(&config, "warn", &stderr);
    common::wait_ready(http).await;
    let client = reqwest::Client::new();
    for (i, at) in ["2026-11-23T10:00:00+01:00", "2026-11-23T10:05:00+01:00"]
        .iter()
        .enumerate()
    {
        let line = common::grade_line(&format!("evt-f{i}"), "s-1001", at);
        assert_eq!(common::post_events(&client, http, line).await, Some(202));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&stderr).unwrap();
        if text.contains("[fcm]") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Two events, four fcm notices: said once.
    assert_eq!(text.matches("no [fcm] table").count(), 1, "{text}");
    let out = rustig(&["status", "--config", config.to_str().unwrap(), "--json"]);
    child.stop();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["unconfigured_channels"],
        serde_json::json!([{"channel": "fcm", "table": "[fcm]", "contacts": 2}])
    );
}
