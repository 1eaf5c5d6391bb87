//! The embedded source: `POST /v1/events` with one JSON event or NDJSON. Answers 202 only
//! after the batch is committed; a duplicate id is accepted and ignored; bad events get a
//! 400 (single) or a per-line result (NDJSON) and are quarantined; an id stored before with
//! other content gets a 409 (single) or a `conflict` line and is quarantined too. When the
//! quarantine is full a request that needs it gets 507 with Retry-After, and nothing of it is
//! accepted.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::HttpIngestConfig;
use crate::ingest::{Accepted, Ingestor};
use crate::listener::Limits;

#[derive(Clone)]
struct AppState {
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    token: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSourceError {
    #[error("reading the ingest token file {path}: {source}")]
    Token {
        path: String,
        source: std::io::Error,
    },
    #[error("the ingest token file {0} is empty")]
    EmptyToken(String),
    /// Said once, with the key to change (the io error is not a `source`, so that it is
    /// not printed a second time by the error chain).
    #[error("ingest.http.listen = \"{addr}\": {}", crate::listener::bind_problem(.error))]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A bound HTTP source, ready to serve.
pub struct HttpSource {
    listener: TcpListener,
    router: Router,
    limits: Limits,
}

impl HttpSource {
    pub async fn bind(
        cfg: &HttpIngestConfig,
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
    ) -> Result<HttpSource, HttpSourceError> {
        let token = match &cfg.token_file {
            None => None,
            Some(p) => {
                let t = std::fs::read_to_string(p).map_err(|source| HttpSourceError::Token {
                    path: p.display().to_string(),
                    source,
                })?;
                let t = t.trim().to_string();
                if t.is_empty() {
                    return Err(HttpSourceError::EmptyToken(p.display().to_string()));
                }
                Some(Arc::new(t.into_bytes()))
            }
        };
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|error| HttpSourceError::Bind {
                    addr: cfg.listen,
                    error,
                })?;
        let state = AppState {
            ingestor,
            clock,
            token,
        };
        let router = Router::new()
            .route("/v1/events", post(post_events))
            .route("/healthz", get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(cfg.limits.max_body_bytes))
            .with_state(state);
        Ok(HttpSource {
            listener,
            router,
            limits: cfg.limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `stop` turns true; requests in flight finish first.
    pub async fn serve(self, stop: watch::Receiver<bool>) -> std::io::Result<()> {
        crate::listener::serve(self.listener, self.router, self.limits, stop).await
    }
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .unwrap_or("");
    given.as_bytes().ct_eq(token.as_slice()).into()
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches([' ', '\t']))
}

/// NDJSON when the content type says so, or when the body is not one JSON value.
fn is_ndjson(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/x-ndjson") || ct.starts_with("application/jsonl") {
        return true;
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
        && body.iter().filter(|b| **b == b'\n').count() > 0
}

async fn post_events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong bearer token"})),
        )
            .into_response();
    }
    let now = state.clock.now();
    if !is_ndjson(&headers, &body) {
        let raw: &[u8] = &body;
        return match state.ingestor.ingest(&[raw], "http", now).await {
            Err(e) => unavailable(e),
            Ok(mut r) => match r.remove(0) {
                Accepted::Conflict { id } => (
                    StatusCode::CONFLICT,
                    Json(json!({"status": "conflict", "id": id, "error": CONFLICT, "quarantined": true})),
                )
                    .into_response(),
                Accepted::Rejected { error } => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"status": "rejected", "field": error.field, "error": error.to_string(), "quarantined": true})),
                )
                    .into_response(),
                other => (StatusCode::ACCEPTED, Json(line_result(None, &other))).into_response(),
            },
        };
    }
    let (numbers, lines): (Vec<usize>, Vec<&[u8]>) = crate::model::ndjson::lines(&body).unzip();
    match state.ingestor.ingest(&lines, "http", now).await {
        Err(e) => unavailable(e),
        Ok(results) => {
            let count = |f: fn(&Accepted) -> bool| results.iter().filter(|r| f(r)).count();
            let rejected = count(|r| matches!(r, Accepted::Rejected { .. }));
            let conflicts = count(|r| matches!(r, Accepted::Conflict { .. }));
            let summary = json!({
                "accepted": count(|r| matches!(r, Accepted::New { .. } | Accepted::Stale { .. })),
                "duplicates": count(|r| matches!(r, Accepted::Duplicate { .. })),
                "rejected": rejected,
                "conflicts": conflicts,
                "results": results.iter().zip(&numbers).map(|(r, n)| line_result(Some(*n), r)).collect::<Vec<_>>(),
            });
            // Nothing taken: 400 when a line was malformed, 409 when all were conflicts.
            let status = if results.is_empty() || rejected + conflicts < results.len() {
                StatusCode::ACCEPTED
            } else if rejected > 0 {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            (status, Json(summary)).into_response()
        }
    }
}

fn line_result(line: Option<usize>, r: &Accepted) -> serde_json::Value {
    let mut v = match r {
        Accepted::New { id } => json!({"status": "accepted", "id": id}),
        Accepted::Stale { id } => {
            json!({"status": "accepted", "id": id, "note": "a newer version of this record is already in force"})
        }
        Accepted::Duplicate { id } => json!({"status": "duplicate", "id": id}),
        Accepted::Conflict { id } => {
            json!({"status": "conflict", "id": id, "error": CONFLICT, "quarantined": true})
        }
        Accepted::Rejected { error } => {
            json!({"status": "rejected", "field": error.field, "error": error.to_string(), "quarantined": true})
        }
    };
    if let Some(n) = line {
        v["line"] = n.into();
    }
    v
}

const CONFLICT: &str =
    "an event with this id was stored before with other content; the stored version stays";

/// The store is down, or the quarantine full: the sender should retry later; nothing was
/// acknowledged.
fn unavailable(e: crate::store::StoreError) -> Response {
    if let crate::store::StoreError::QuarantineFull { .. } = e {
        // 507: the request was fine, but input that must be kept cannot be; a retry helps once
        // retention or the operator makes room.
        tracing::error!(error = %e, "ingest refused; answering 507");
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            [(header::RETRY_AFTER, "300")],
            Json(json!({"error": "the quarantine for rejected input is full; nothing of this request was accepted, retry later"})),
        )
            .into_response();
    }
    tracing::error!(error = %e, "ingest failed; answering 503");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(json!({"error": "could not store the events; nothing was accepted, retry later"})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for (value, token) in [
            ("Bearer s3cret", Some("s3cret")),
            ("bearer s3cret", Some("s3cret")),
            ("BEARER  s3cret", Some("s3cret")),
            ("\tBeArEr\ts3cret ", Some("s3cret")),
            ("Basic s3cret", None),
            ("Bearers3cret", None),
            ("s3cret", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
    }
}
