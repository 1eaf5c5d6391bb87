//! Latency of the operators' views with the whole backlog pending: `GET /v1/status` and
//! `GET /metrics` on the daemon's admin listener (issue 13: p99 ≤ 50 ms each at 1M pending
//! notices, served from indexes and maintained counters). Sequential requests, one
//! connection each, with the read token, as a probe or a Prometheus scrape makes them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;

/// The admin listener to measure.
#[derive(Debug, Clone)]
pub struct AdminProbe {
    pub port: u16,
    pub token: String,
    /// Requests per route.
    pub requests: usize,
}

/// One route's latency over `requests` sequential requests.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub route: &'static str,
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Bytes of the last answer's body.
    pub bytes: usize,
}

/// `GET path`: the status code, the body's length and the time to the last byte.
fn get(probe: &AdminProbe, path: &str) -> Result<(u16, usize, Duration), BenchError> {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", probe.port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        probe.token
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    let code = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| BenchError::Daemon(format!("GET {path}: no HTTP answer")))?;
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    Ok((code, body, took))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Measures `route`; `None` when the daemon does not serve it (404: `/metrics` before the
/// metrics landed).
pub fn measure(probe: &AdminProbe, route: &'static str) -> Result<Option<Latency>, BenchError> {
    // One request first: the connection pool and the store's pages warm, as in a daemon that
    // has been running.
    let (code, _, _) = get(probe, route)?;
    if code == 404 {
        return Ok(None);
    }
    let mut times = Vec::with_capacity(probe.requests);
    let mut bytes = 0;
    for _ in 0..probe.requests.max(1) {
        let (code, len, took) = get(probe, route)?;
        if code != 200 {
            return Err(BenchError::Daemon(format!("GET {route}: {code}")));
        }
        bytes = len;
        times.push(took.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(Some(Latency {
        route,
        requests: times.len(),
        p50_ms: percentile(&times, 0.50),
        p99_ms: percentile(&times, 0.99),
        max_ms: *times.last().unwrap_or(&0.0),
        bytes,
    }))
}
