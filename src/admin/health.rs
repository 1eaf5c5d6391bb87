//! `/healthz` (the process answers) and `/readyz` (it can do its work), for load balancers,
//! compose and systemd; without a token, and without anything personal in the answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;

use super::{AdminState, Routes};

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

/// Ready: the store answers a query.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "ready"),
        (status = 503, description = "not ready, with the reason")))]
async fn readyz(State(state): State<AdminState>) -> Response {
    let probe = crate::store::health::probe(async { state.store.next_due().await.map(|_| 0) });
    match probe.await {
        Ok(_) => Json(serde_json::json!({ "ready": true })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "reasons": [format!("store: {e}")] })),
        )
            .into_response(),
    }
}
