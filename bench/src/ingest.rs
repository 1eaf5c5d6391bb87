//! Ingest measurements: the in-process path (`Ingestor::ingest`, one transaction per batch)
//! and the HTTP endpoint (`POST /v1/events` with NDJSON bodies), both into a durable store.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::workload::Workload;
use super::BenchError;
use rustig::clock::SystemClock;
use rustig::config::HttpIngestConfig;
use rustig::ingest::{Accepted, Ingestor, PhaseTimes};
use rustig::source::http::HttpSource;

/// One ingest run.
#[derive(Debug, Clone, Serialize)]
pub struct IngestResult {
    /// `in-process` or `http`.
    pub path: &'static str,
    pub events: u64,
    /// New (or stale) events acknowledged.
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub batch: usize,
    /// Concurrent HTTP requests (1 for the in-process path).
    pub clients: usize,
    /// What took the events: `ingestor` (a library call), `daemon` (a `rustig run` process,
    /// its scheduler running) or `in-process server` (the HTTP source alone, in this process).
    pub server: &'static str,
    pub seconds: f64,
    pub events_per_s: f64,
    /// Where the in-process path's time went (seconds per phase, all batches).
    pub phases: Option<PhaseTimes>,
    /// Bytes this process handed to `write`/`pwrite` during the in-process path (the store's
    /// WAL and checkpoints; `wchar` of /proc/self/io), on Linux.
    pub written_bytes: Option<u64>,
}

/// `wchar` of /proc/self/io: bytes written by this process through system calls.
fn written_so_far() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

fn result(path: &'static str, batches: &[Vec<u8>], clients: usize, seconds: f64) -> IngestResult {
    let events = batches
        .iter()
        .map(|b| Workload::lines(b).len() as u64)
        .sum();
    IngestResult {
        path,
        events,
        accepted: 0,
        duplicates: 0,
        rejected: 0,
        batch: batches
            .first()
            .map(|b| Workload::lines(b).len())
            .unwrap_or(0),
        clients,
        server: "ingestor",
        seconds,
        events_per_s: if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
        phases: None,
        written_bytes: None,
    }
}

/// Feeds every batch to `ingestor` in turn; each call commits one transaction.
pub async fn in_process(
    ingestor: &Ingestor,
    batches: &[Vec<u8>],
) -> Result<IngestResult, BenchError> {
    let (mut accepted, mut duplicates, mut rejected) = (0, 0, 0);
    let written = written_so_far();
    let start = Instant::now();
    for body in batches {
        let lines = Workload::lines(body);
        for r in ingestor.ingest(&lines, "bench", Utc::now()).await? {
            match r {
                Accepted::New { .. } | Accepted::Stale { .. } => accepted += 1,
                Accepted::Duplicate { .. } => duplicates += 1,
                Accepted::Rejected { .. } | Accepted::Conflict { .. } => rejected += 1,
            }
        }
    }
    let mut r = result("in-process", batches, 1, start.elapsed().as_secs_f64());
    (r.accepted, r.duplicates, r.rejected) = (accepted, duplicates, rejected);
    r.phases = Some(ingestor.phases());
    r.written_bytes = written.zip(written_so_far()).map(|(a, b)| b - a);
    Ok(r)
}

/// Serves `ingestor` in this process (no scheduler running) on a free loopback port and
/// posts every batch to it.
pub async fn http_in_process(
    ingestor: Arc<Ingestor>,
    batches: &[Vec<u8>],
    clients: usize,
) -> Result<IngestResult, BenchError> {
    let cfg = HttpIngestConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        token_file: None,
        limits: rustig::listener::Limits {
            max_body_bytes: 64 * 1024 * 1024,
            ..Default::default()
        },
    };
    let source = HttpSource::bind(&cfg, ingestor, Arc::new(SystemClock))
        .await
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let url = format!("http://{}/v1/events", source.local_addr());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(source.serve(stop_rx));
    let r = http(&url, batches, clients, "in-process server").await;
    let _ = stop.send(true);
    let _ = server.await;
    r
}

/// Posts every batch as NDJSON to `url`, `clients` requests at a time; counts what the
/// answers acknowledge. `server` says what answers (for the report).
pub async fn http(
    url: &str,
    batches: &[Vec<u8>],
    clients: usize,
    server: &'static str,
) -> Result<IngestResult, BenchError> {
    let clients = clients.max(1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let start = Instant::now();
    let answers: Vec<(u64, u64, u64)> = stream::iter(batches)
        .map(|body| {
            let client = &client;
            async move {
                let resp = client
                    .post(url)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| BenchError::Http(e.to_string()))?;
                let status = resp.status();
                let v: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| BenchError::Http(e.to_string()))?;
                if status != reqwest::StatusCode::ACCEPTED {
                    return Err(BenchError::Http(format!("POST /v1/events: {status} {v}")));
                }
                let n = |k: &str| v[k].as_u64().unwrap_or(0);
                Ok((n("accepted"), n("duplicates"), n("rejected")))
            }
        })
        .buffer_unordered(clients)
        .try_collect()
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    let mut r = result("http", batches, clients, seconds);
    r.server = server;
    for (a, d, x) in answers {
        r.accepted += a;
        r.duplicates += d;
        r.rejected += x;
    }
    Ok(r)
}
