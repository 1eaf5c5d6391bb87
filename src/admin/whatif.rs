//! `POST /v1/whatif` (read token: it changes nothing) and `POST /v1/whatif/apply` (operate
//! token, audited): a candidate config tried against the buffer, and applied. The engine is
//! [`crate::whatif`]; this is the HTTP around it.
//!
//! The body is the candidate TOML itself (`Content-Type: application/toml` or `text/plain`,
//! with `?days=` and `?base_sha256=` in the query), or JSON `{"toml": "…", "days": 14}` /
//! `{"toml": "…", "base_sha256": "…"}`.

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::api::{ApiError, ApiResult};
use super::{AdminState, Caller, Routes};
use crate::whatif::{self, Applied, ApplyError, Refused, WhatIfError, WhatIfReport};

pub fn routes() -> Routes {
    Routes::default()
        .read(OpenApiRouter::new().routes(utoipa_axum::routes!(post_whatif)))
        .operate(OpenApiRouter::new().routes(utoipa_axum::routes!(post_apply)))
}

/// The JSON form of a what-if or apply request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateRequest {
    /// The candidate config, as the TOML file's text.
    pub toml: String,
    /// What-if: days of stored events to replay (1 to 60, default 14).
    pub days: Option<u32>,
    /// Apply: the `current_sha256` the what-if answered; refused (409) when another config
    /// is in force by now.
    pub base_sha256: Option<String>,
}

/// With a TOML or text body.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateQuery {
    /// What-if: days of stored events to replay (1 to 60, default 14).
    pub days: Option<u32>,
    /// Apply: apply only when this is the SHA-256 of the config in force.
    pub base_sha256: Option<String>,
}

/// The candidate's bytes and the options, from either form of the body.
fn candidate(
    headers: &HeaderMap,
    body: &[u8],
    q: CandidateQuery,
) -> Result<(Vec<u8>, CandidateQuery), ApiError> {
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match kind.as_deref() {
        Some("application/json") => {
            let req: CandidateRequest = serde_json::from_slice(body).map_err(|e| {
                let status = if e.is_data() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError::new(status, format!("the JSON body: {e}"))
            })?;
            let q = CandidateQuery {
                days: req.days.or(q.days),
                base_sha256: req.base_sha256.or(q.base_sha256),
            };
            Ok((req.toml.into_bytes(), q))
        }
        // An upload as bytes is read as text too: not UTF-8 is then a 400, not a 415.
        None
        | Some("application/toml")
        | Some("text/plain")
        | Some("text/x-toml")
        | Some("application/octet-stream") => Ok((body.to_vec(), q)),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {other}: send the TOML as application/toml or text/plain, or JSON \
                 {{\"toml\": \"…\"}} as application/json"
            ),
        )),
    }
}

/// A refused candidate: too large 413, not text 400, errors 422 with each (line first).
fn refused(r: Refused) -> ApiError {
    match r {
        Refused::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, r.to_string()),
        Refused::NotText(_) => ApiError::bad_request(r.to_string()),
        Refused::Invalid(ref errors) => {
            let details = errors.iter().map(|e| e.message.clone()).collect();
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.to_string()).with_details(details)
        }
    }
}

/// Tries a candidate config against the buffer without changing anything: whether it passes
/// `rustig check` (422 with every error and its line when not), and what it would change:
/// the pending notices re-planned under it and the stored events of the last `days` (default
/// 14) replayed under both configs, counted per notice as moved earlier, later, gone or new,
/// per school, role, channel and rule; the week ahead and the calm figures under both.
///
/// The body is the TOML (`application/toml` or `text/plain`, `?days=` in the query) or JSON
/// `{"toml": "…", "days": 14}`. At most 256 KiB (413); not UTF-8 text: 400.
#[utoipa::path(post, path = "/v1/whatif", tag = "whatif",
    params(CandidateQuery),
    request_body(description = "the candidate config: its TOML text (also accepted as `application/toml`), or JSON",
        content((String = "text/plain"), (CandidateRequest = "application/json"))),
    responses((status = 200, description = "what the candidate would change", body = WhatIfReport),
              (status = 400, description = "not UTF-8 text, a malformed body or `days` out of range", body = super::api::ErrorBody),
              (status = 413, description = "the candidate is larger than 256 KiB", body = super::api::ErrorBody),
              (status = 415, description = "neither TOML, text nor JSON", body = super::api::ErrorBody),
              (status = 422, description = "the candidate does not pass `rustig check`: every error, with its line", body = super::api::ErrorBody)))]
async fn post_whatif(
    State(state): State<AdminState>,
    Query(q): Query<CandidateQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<WhatIfReport> {
    let (toml, q) = candidate(&headers, &body, q)?;
    let ctx = whatif::Ctx {
        store: state.store.clone(),
        shared: state.shared.clone(),
        now: state.clock.now(),
    };
    match whatif::run(&ctx, &toml, q.days.unwrap_or(whatif::DEFAULT_DAYS)).await {
        Ok(report) => Ok(Json(report)),
        Err(WhatIfError::Refused(r)) => Err(refused(r)),
        Err(e @ WhatIfError::Days(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(WhatIfError::Store(e)) => Err(e.into()),
        Err(e @ WhatIfError::Directory(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

/// Applies a candidate config: checked again (422 with every error), written over the config
/// file atomically with the previous one kept as `<file>.bak`, and reloaded (every pending
/// notice re-planned); written to the audit trail as `config.apply` with the SHA-256 of the
/// old and new text. Refused (409) when `base_sha256` is not the config in force, or when
/// the candidate changes keys only a restart applies. When the reload refuses it (422), the
/// previous file is put back and stays in force.
///
/// Needs the `operate` token. The body as for `POST /v1/whatif` (`base_sha256` instead of
/// `days`).
#[utoipa::path(post, path = "/v1/whatif/apply", tag = "whatif",
    params(CandidateQuery),
    request_body(description = "the candidate config: its TOML text (also accepted as `application/toml`), or JSON",
        content((String = "text/plain"), (CandidateRequest = "application/json"))),
    responses((status = 200, description = "the candidate is in force", body = Applied),
              (status = 400, description = "not UTF-8 text or a malformed body", body = super::api::ErrorBody),
              (status = 409, description = "another config is in force by now, or the candidate changes keys only a restart applies", body = super::api::ErrorBody),
              (status = 413, description = "the candidate is larger than 256 KiB", body = super::api::ErrorBody),
              (status = 415, description = "neither TOML, text nor JSON", body = super::api::ErrorBody),
              (status = 422, description = "the candidate does not pass `rustig check` (every error, with its line), or the reload refused it (the previous file is back)", body = super::api::ErrorBody)))]
async fn post_apply(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<CandidateQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Applied> {
    let (toml, q) = candidate(&headers, &body, q)?;
    let Some(reloader) = state.reloader.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApplyError::NoDaemon.to_string(),
        ));
    };
    let ctx = whatif::ApplyCtx {
        store: &*state.store,
        shared: &state.shared,
        reloader: &reloader,
        actor: caller.actor(),
        now: state.clock.now(),
    };
    match whatif::apply(&ctx, &toml, q.base_sha256.as_deref()).await {
        Ok(applied) => Ok(Json(applied)),
        Err(ApplyError::Refused(r)) => Err(refused(r)),
        Err(e @ (ApplyError::Stale { .. } | ApplyError::RestartOnly(_))) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ ApplyError::Reload { .. }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(ApplyError::Store(e)) => Err(e.into()),
        Err(e @ (ApplyError::Io { .. } | ApplyError::NoDaemon)) => {
            tracing::error!("config.apply: {e}");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ))
        }
    }
}
