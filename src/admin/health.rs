//! `/healthz` (the process answers) and `/readyz` (it can do its work: store, migrations,
//! sources), for load balancers,
//! compose and systemd; without a token, and without anything personal in the answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::{AdminState, Routes};
use crate::store::health::PROBE_TIMEOUT;

pub fn routes() -> Routes {
    Routes::default().public(
        OpenApiRouter::new()
            .routes(utoipa_axum::routes!(healthz))
            .routes(utoipa_axum::routes!(readyz)),
    )
}

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, one line each (`store: …`, `source nats …: not connected`); empty when ready.
    pub reasons: Vec<String>,
}

/// Ready: the store answers a query, its migrations are all applied, and every configured
/// source is connected. 503 with the reasons otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "not ready, with the reasons", body = Readiness)))]
async fn readyz(State(state): State<AdminState>) -> Response {
    let reasons = not_ready(&state).await;
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready: reasons.is_empty(),
        reasons,
    };
    (status, Json(body)).into_response()
}

/// Every reason the daemon cannot do its work now. Names sources and versions, nothing
/// personal (this answers without a token).
pub async fn not_ready(state: &AdminState) -> Vec<String> {
    let mut reasons = Vec::new();
    match tokio::time::timeout(PROBE_TIMEOUT, state.store.migrations_missing()).await {
        Ok(Ok(missing)) if missing.is_empty() => {}
        Ok(Ok(missing)) => reasons.push(format!(
            "store: migrations not applied: {}",
            missing
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Ok(Err(e)) => reasons.push(format!("store: {e}")),
        Err(_) => reasons.push(format!(
            "store: no answer within {}s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
    for source in state.sources.iter() {
        let h = source.snapshot();
        if !h.connected {
            reasons.push(format!("source {}: not connected", h.name));
        }
    }
    reasons
}
