//! The HTTP ingest listener against clients that misbehave, on the real daemon: slow headers
//! and bodies are cut off, idle keep-alive connections closed, connections above the limit
//! wait, oversized ids and implausible times rejected (and quarantined), the bearer scheme
//! read case-insensitively, and a listener beyond loopback without a token refuses to start.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::BaseConfig;
use rustig::clock::SystemClock;
use rustig::config::Config;
use rustig::daemon::Running;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The base config with `http` as the body of `[ingest.http]`.
fn config_text(tmp: &Path, http: &str) -> String {
    BaseConfig::new(tmp).ingest(http).text()
}

/// The daemon on the wall clock with `[ingest.http]` set to `http`.
async fn daemon(tmp: &Path, http: &str) -> Running {
    let text = config_text(tmp, &format!("listen = \"127.0.0.1:0\"\n{http}"));
    let config = Config::parse(Path::new("test.toml"), &text).unwrap();
    rustig::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes); what it sent.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response whose body is small and complete in the first reads.
async fn read_response(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Some(text);
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: rustig\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off_after_read_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = daemon(tmp.path(), "read_timeout = \"2s\"\nidle_timeout = \"1s\"\n").await;
    let mut s = TcpStream::connect(d.http_addr.unwrap()).await.unwrap();
    s.write_all(b"POST /v1/events HTTP/1.1\r\nHost: rustig\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header line every 300 ms: never idle, never complete.
    let mut closed = false;
    for i in 0..100 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let line = format!("X-Slow-{i}: a\r\n");
        if s.write_all(line.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 256];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
            if matches!(r, Ok(0) | Err(_)) {
                closed = true;
                break;
            }
        }
    }
    let held = started.elapsed();
    assert!(closed, "the connection was held for {held:?}");
    // Cut by the header timer (2 s), not by the idle limit (1 s): bytes kept coming.
    assert!(held >= Duration::from_millis(1500), "cut after {held:?}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_gets_408_and_is_disconnected() {
    let tmp = tempfile::tempdir().unwrap();
    let d = daemon(tmp.path(), "read_timeout = \"2s\"\nidle_timeout = \"1s\"\n").await;
    let s = TcpStream::connect(d.http_addr.unwrap()).await.unwrap();
    let (mut r, mut w) = s.into_split();
    w.write_all(
        b"POST /v1/events HTTP/1.1\r\nHost: rustig\r\ncontent-type: application/json\r\n\
          content-length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if w.write_all(b"          ").await.is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut out)).await;
    writer.abort();
    assert!(read.is_ok(), "still open after 20 s");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(text.contains("did not arrive within 2s"), "{text}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = daemon(
        tmp.path(),
        "read_timeout = \"30s\"\nidle_timeout = \"1s\"\n",
    )
    .await;
    let mut s = TcpStream::connect(d.http_addr.unwrap()).await.unwrap();
    s.write_all(HEALTH).await.unwrap();
    let first = read_response(&mut s, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let started = Instant::now();
    // The same connection serves a second request while it is still fresh ...
    s.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut s, Duration::from_secs(10))
        .await
        .is_some());
    // ... and is closed once it was idle for a second (long before read_timeout).
    let rest = read_to_close(&mut s, Duration::from_secs(20)).await;
    assert_eq!(rest.as_deref(), Some(""), "closed without another byte");
    let idle = started.elapsed();
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");
    assert!(idle < Duration::from_secs(20), "closed after {idle:?}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_limit_wait_until_one_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = daemon(
        tmp.path(),
        "max_connections = 2\nread_timeout = \"60s\"\nidle_timeout = \"60s\"\n",
    )
    .await;
    let addr = d.http_addr.unwrap();
    // Two connections served and kept open: every slot taken.
    let mut held = vec![];
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(HEALTH).await.unwrap();
        let r = read_response(&mut s, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        held.push(s);
    }
    // A third connects (the kernel queues it) but is not served ...
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    assert_eq!(
        read_response(&mut third, Duration::from_millis(1500)).await,
        None,
        "served above the limit"
    );
    // ... until one of the others closes.
    drop(held.remove(0));
    let r = read_response(&mut third, Duration::from_secs(20))
        .await
        .expect("served once a slot was free");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    d.shutdown().await;
}

fn event(id: &str, occurred_at: &str) -> Value {
    json!({
        "id": id, "type": "absence.registered", "school": "coornhert",
        "occurred_at": occurred_at, "record": "abs-1", "student": "s-1001",
        "absence": {"kind": "late", "start": "2026-11-23T08:30:00+01:00"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_ids_and_implausible_times_are_rejected_naming_the_field_and_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let d = daemon(tmp.path(), "").await;
    let url = format!("http://{}/v1/events", d.http_addr.unwrap());
    let client = reqwest::Client::new();
    let now = chrono::Utc::now();
    let recent = (now - chrono::Duration::hours(1)).to_rfc3339();
    let huge = "x".repeat(1 << 20);
    let cases = [
        (event(&huge, &recent), "id"),
        (
            event("evt-1999", "1999-12-31T23:59:59+01:00"),
            "occurred_at",
        ),
        (event("evt-10000", "10000-01-01T00:00:00Z"), "occurred_at"),
        (
            event(
                "evt-future",
                &(now + chrono::Duration::hours(25)).to_rfc3339(),
            ),
            "occurred_at",
        ),
    ];
    for (body, field) in &cases {
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(
            text.len() < 1000,
            "the id is not echoed: {} bytes",
            text.len()
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["field"], *field, "{v}");
        assert_eq!(v["quarantined"], true, "{v}");
    }
    // In a batch: the bad lines are rejected by line, the good one accepted.
    let batch = [
        event("evt-ok", &recent).to_string(),
        event(&"y".repeat(300), &recent).to_string(),
        event("evt-old", "1970-01-01T00:00:00Z").to_string(),
    ]
    .join("\n");
    let r = client
        .post(&url)
        .header("content-type", "application/x-ndjson")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );
    assert_eq!(v["results"][1]["field"], "id", "{v}");
    assert_eq!(v["results"][2]["field"], "occurred_at", "{v}");
    let c = d.store.counts().await.unwrap();
    assert_eq!((c.events, c.quarantined), (1, 6), "{c:?}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let d = daemon(
        tmp.path(),
        &format!("token_file = \"{}\"\n", token.display()),
    )
    .await;
    let url = format!("http://{}/v1/events", d.http_addr.unwrap());
    let client = reqwest::Client::new();
    let recent = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for (i, (auth, status)) in [
        ("Bearer s3cret", 202),
        ("bearer s3cret", 202),
        ("BEARER  s3cret", 202),
        ("Basic s3cret", 401),
        ("bearer wrong", 401),
    ]
    .into_iter()
    .enumerate()
    {
        let r = client
            .post(&url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(event(&format!("evt-{i}"), &recent).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{auth}");
    }
    d.shutdown().await;
}

#[test]
fn a_listener_beyond_loopback_without_a_token_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("open.toml");
    std::fs::write(&path, config_text(tmp.path(), "listen = \"0.0.0.0:0\"\n")).unwrap();
    for command in ["run", "check"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
            .args([command, "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "open.toml:7:10: ingest.http.listen = \"0.0.0.0:0\": listening beyond \
                 loopback needs token_file"
            ),
            "{command}: {err}"
        );
    }
    assert!(
        !tmp.path().join("rustig.db").exists(),
        "refused before opening the store"
    );
}
