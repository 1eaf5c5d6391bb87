//! The operators' HTTP API (`[admin]`): views of the delay buffer, actions on it (each written
//! to the audit trail), health probes and metrics, on a listener of its own so that it can be
//! firewalled apart from ingest. Served by [`crate::listener`] with its timeouts and limits.
//!
//! # Adding routes from another module
//!
//! A module writes its handlers with `#[utoipa::path(…)]` (so they appear in
//! `GET /v1/openapi.json`), returns them as a [`Routes`] by the token they need, and adds one
//! line to [`routes`]:
//!
//! ```ignore
//! // src/admin/metrics.rs
//! pub fn routes() -> Routes {
//!     Routes::default().read(OpenApiRouter::new().routes(utoipa_axum::routes!(get_metrics)))
//! }
//! // src/admin/mod.rs, fn routes():
//!     .merge(metrics::routes())
//! ```
//!
//! Handlers take `State<AdminState>` (store, config and directory, clock, sources, audit)
//! and, behind a token, `Extension<Caller>` (who asked, for the audit trail:
//! [`Caller::actor`]). `public` routes (`/healthz`, `/readyz`) answer without a token; every
//! other route answers 401 without a valid one, and `operate` routes 403 to a read token.

pub mod actions;
pub mod api;
pub mod auth;
pub mod event;
pub mod health;
pub mod metrics;
pub mod outlook;
pub mod preferences;
pub mod status;
pub mod views;
pub mod whatif;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::clock::Clock;
use crate::config::AdminConfig;
use crate::ingest::Ingestor;
use crate::listener::Limits;
use crate::reload::Reloader;
use crate::shared::Shared;
use crate::source::health::SourceHealth;
use crate::store::Store;

pub use auth::{Caller, Level, Tokens};

/// What every admin handler can reach. Cheap to clone (all shared).
#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
    /// The config and directory in force (swapped on reload).
    pub shared: Arc<Shared>,
    pub clock: Arc<dyn Clock>,
    /// One per configured source: connected, lag, last error.
    pub sources: Arc<Vec<Arc<SourceHealth>>>,
    /// When this process started.
    pub started_at: DateTime<Utc>,
    /// Replays quarantined input through normal ingest (absent outside the daemon).
    pub ingestor: Option<Arc<Ingestor>>,
    /// Reloads the config and imports directories (absent outside the daemon).
    pub reloader: Option<Arc<Reloader>>,
    /// The families' choices (absent without `[preferences]`).
    pub prefs: Option<Arc<crate::prefs::Prefs>>,
    /// The email channel, for its relay's health in the status (absent outside the daemon).
    pub email: Option<Arc<crate::send::email::EmailChannel>>,
}

impl AdminState {
    pub fn new(store: Arc<dyn Store>, shared: Arc<Shared>, clock: Arc<dyn Clock>) -> AdminState {
        let started_at = clock.now();
        AdminState {
            store,
            shared,
            clock,
            sources: Arc::default(),
            started_at,
            ingestor: None,
            reloader: None,
            prefs: None,
            email: None,
        }
    }

    /// What the actions need of the running daemon.
    pub fn with_daemon(mut self, ingestor: Arc<Ingestor>, reloader: Arc<Reloader>) -> AdminState {
        self.ingestor = Some(ingestor);
        self.reloader = Some(reloader);
        self
    }

    pub fn with_prefs(mut self, prefs: Option<Arc<crate::prefs::Prefs>>) -> AdminState {
        self.prefs = prefs;
        self
    }

    pub fn with_sources(mut self, sources: Vec<Arc<SourceHealth>>) -> AdminState {
        self.sources = Arc::new(sources);
        self
    }

    pub fn with_email(mut self, email: Arc<crate::send::email::EmailChannel>) -> AdminState {
        self.email = Some(email);
        self
    }
}

/// Routes of one module, by the token they need.
#[derive(Default)]
pub struct Routes {
    /// Answered without a token (probes).
    pub public: OpenApiRouter<AdminState>,
    /// Need a read or operate token.
    pub read: OpenApiRouter<AdminState>,
    /// Need an operate token; every one of them writes the audit trail.
    pub operate: OpenApiRouter<AdminState>,
}

impl Routes {
    pub fn public(mut self, r: OpenApiRouter<AdminState>) -> Routes {
        self.public = self.public.merge(r);
        self
    }

    pub fn read(mut self, r: OpenApiRouter<AdminState>) -> Routes {
        self.read = self.read.merge(r);
        self
    }

    pub fn operate(mut self, r: OpenApiRouter<AdminState>) -> Routes {
        self.operate = self.operate.merge(r);
        self
    }

    pub fn merge(self, other: Routes) -> Routes {
        self.public(other.public)
            .read(other.read)
            .operate(other.operate)
    }
}

/// Every route of the admin API: one line per module.
pub fn routes() -> Routes {
    Routes::default()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(status::routes())
        .merge(views::routes())
        .merge(actions::routes())
        .merge(preferences::routes())
        .merge(outlook::routes())
        .merge(whatif::routes())
        .read(OpenApiRouter::new().routes(utoipa_axum::routes!(openapi_json)))
}

/// The OpenAPI 3.1 document of every route, generated from the handlers' annotations.
pub fn openapi() -> OpenApi {
    let Routes {
        public,
        mut read,
        mut operate,
    } = routes();
    secure(read.get_openapi_mut(), Level::Read);
    secure(operate.get_openapi_mut(), Level::Operate);
    let mut api = public.merge(read).merge(operate).into_openapi();
    api.info.title = "rustig admin API".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some(
        "Views of the delay buffer and actions on it. Bearer tokens from \
         `[admin] read_token_file` (views) and `operate_token_file` (actions, audited); \
         `/healthz` and `/readyz` need none."
            .into(),
    );
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    document_errors(&mut api);
    api
}

/// Every answer a route can give is in the document, as schemathesis checks it against the
/// running daemon (tests/admin_openapi.rs): 401 and 403 where a token is needed, 400 where
/// the path or query can fail to parse, 400/413/415/422 where a JSON body can be refused
/// (axum's rejections, made JSON by [`json_errors`]). OpenAPI 3.1 requires a description of
/// every response: a route that gave none gets its status's reason phrase.
fn document_errors(api: &mut OpenApi) {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::{Content, Ref, Response};
    let error = |description: &str| {
        let mut r = Response::new(description);
        r.content.insert(
            "application/json".into(),
            Content::new(Some(Ref::from_schema_name("ErrorBody"))).into(),
        );
        r
    };
    let add = |op: &mut Operation, code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.into())
            .or_insert_with(|| error(description).into());
    };
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(security) = &op.security {
                if !security.is_empty() {
                    add(op, "401", "no valid bearer token");
                    if op
                        .description
                        .as_deref()
                        .is_some_and(|d| d.contains("`operate`"))
                    {
                        add(op, "403", "a read token, where an operate token is needed");
                    }
                }
            }
            if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add(op, "400", "a malformed path or query");
            }
            if op.request_body.is_some() {
                add(op, "400", "a malformed body");
                add(op, "413", "the body is larger than `max_body_bytes`");
                add(op, "415", "the body is not `application/json`");
                add(op, "422", "the body does not match its schema");
            }
            for (code, response) in op.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = response {
                    if r.description.is_empty() {
                        r.description = code
                            .parse::<u16>()
                            .ok()
                            .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                            .and_then(|c| c.canonical_reason())
                            .unwrap_or("answer")
                            .into();
                    }
                }
            }
        }
    }
}

/// Errors the handlers did not write themselves (axum's rejections of a path, query or body
/// that does not parse; an unknown route) as the API's JSON error body, the one the document
/// promises for every error.
async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejections are a line of text; anything longer is cut, never buffered whole.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut json = api::ApiError::new(status, message).into_response();
    // Keep the headers that matter to the client (e.g. `WWW-Authenticate`, `Allow`).
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// Marks every operation of `api` as needing a bearer token of `level`.
fn secure(api: &mut OpenApi, level: Level) {
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.security = Some(vec![SecurityRequirement::new("bearer", [] as [&str; 0])]);
            let note = format!("Needs a bearer token of level `{}`.", level.as_str());
            op.description = Some(match op.description.take() {
                Some(d) => format!("{d}\n\n{note}"),
                None => note,
            });
        }
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> axum::Json<serde_json::Value> {
    static SPEC: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
        serde_json::to_value(openapi()).expect("the OpenAPI document serializes")
    });
    axum::Json(SPEC.clone())
}

/// The admin router: every route of [`routes`] behind its token, with `state`.
pub fn router(state: AdminState, tokens: Arc<Tokens>, pages: Pages) -> Router {
    let Routes {
        public,
        read,
        operate,
    } = routes();
    let gate = |routes: OpenApiRouter<AdminState>, level: Level| {
        // axum refuses a route layer on no routes.
        if routes.get_openapi().paths.paths.is_empty() {
            return routes;
        }
        routes.route_layer(axum::middleware::from_fn_with_state(
            (tokens.clone(), level),
            auth::require,
        ))
    };
    let (router, _) = public
        .merge(gate(read, Level::Read))
        .merge(gate(operate, Level::Operate))
        .split_for_parts();
    let api = router
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(state.clone());
    // The pages (HTML, not in the OpenAPI document, their own session login) from the
    // daemon; merged into them so that an unknown path keeps the API's JSON 404 (axum keeps
    // `other`'s fallback).
    pages(state, tokens).merge(api)
}

/// The routes served beside the API on its listener, with their own state: the daemon passes
/// the dashboard's ([`crate::dashboard::router`]); the admin module does not know them.
pub type Pages = fn(AdminState, Arc<Tokens>) -> Router;

/// No pages: the API alone.
pub fn no_pages(_: AdminState, _: Arc<Tokens>) -> Router {
    Router::new()
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Tokens(#[from] auth::TokenError),
    #[error("admin listener {0}: beyond loopback only with read_token_file or operate_token_file")]
    Open(SocketAddr),
    #[error("admin.listen = \"{addr}\": {}", crate::listener::bind_problem(.error))]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A bound admin listener, ready to serve.
pub struct AdminServer {
    listener: TcpListener,
    router: Router,
    limits: Limits,
}

impl AdminServer {
    /// Reads the token files and binds `cfg.listen`; serves `pages` beside the API.
    pub async fn bind(
        cfg: &AdminConfig,
        state: AdminState,
        pages: Pages,
    ) -> Result<AdminServer, AdminError> {
        let tokens = Tokens::load(cfg)?;
        // The config refuses this already; a second lock on the door.
        if !tokens.required() && !cfg.listen.ip().is_loopback() {
            return Err(AdminError::Open(cfg.listen));
        }
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|error| AdminError::Bind {
                addr: cfg.listen,
                error,
            })?;
        Ok(AdminServer {
            listener,
            router: router(state, Arc::new(tokens), pages),
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

#[cfg(test)]
mod tests {
    /// Routes come only through `utoipa_axum::routes!`, so each one is in the OpenAPI
    /// document: a plain axum `.route(` in the admin module would bypass it.
    #[test]
    fn no_admin_route_bypasses_the_openapi_document() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/admin");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            assert!(
                !code.contains(&[".route", "("].concat()),
                "{}: add routes with .routes(utoipa_axum::routes!(…))",
                path.display()
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_a_bearer_scheme() {
        let spec = serde_json::to_value(super::openapi()).unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        assert_eq!(
            spec["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let status = &spec["paths"]["/v1/status"]["get"];
        assert_eq!(status["security"][0]["bearer"], serde_json::json!([]));
        assert!(spec["paths"]["/healthz"]["get"].get("security").is_none());
    }

    /// OpenAPI 3.1 requires a description of every response; the errors every route can
    /// give are documented.
    #[test]
    fn every_response_is_described_and_the_errors_are_documented() {
        let spec = serde_json::to_value(super::openapi()).unwrap();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (code, r) in op["responses"].as_object().unwrap() {
                    let d = r["description"].as_str().unwrap_or_default();
                    assert!(!d.is_empty(), "{method} {path} {code}: no description");
                }
                if op.get("security").is_some() {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
            }
        }
        let cancel = &spec["paths"]["/v1/notices/{id}/cancel"]["post"]["responses"];
        assert!(
            cancel["403"].is_object() && cancel["400"].is_object(),
            "{cancel}"
        );
        assert!(spec["paths"]["/v1/status"]["get"]["responses"]["403"].is_null());
    }
}
