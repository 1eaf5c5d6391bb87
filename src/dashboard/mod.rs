//! The operators' dashboard: server-rendered pages on the admin listener, beside the JSON
//! API (merged with it by the daemon, `src/daemon.rs`; not in its OpenAPI document).
//!
//! - `GET /` without a session is the log-in form. The token (read or operate, the API's
//!   own, checked the same way in constant time) travels only in the form's body; a right
//!   one starts a session ([`session`]): a random id in a cookie that is `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and `Secure` when a proxy on the way says the request came
//!   over HTTPS (`X-Forwarded-Proto: https`). Whether the browser reached us over TLS cannot
//!   be known otherwise: put the admin listener behind a TLS proxy that sets that header, or
//!   keep it on loopback / an SSH tunnel.
//! - Log-in and log-out are written to the audit trail (`dashboard.login`,
//!   `dashboard.logout`), so is looking up a student's timeline (`dashboard.student`), and
//!   every action the same way the API writes it (the same functions in
//!   [`crate::admin::actions`]). Failed log-ins are counted per client address and lock it
//!   out for a while.
//! - Every `POST` form carries the session's CSRF token; actions also ask for an operate
//!   token in the form, whoever is logged in, and are recorded under that token's name.
//! - Dutch and English: `?lang=` (remembered in a cookie), else the browser's
//!   `Accept-Language`. No JavaScript, no remote resources: templates and stylesheet are in
//!   the binary; the content security policy allows nothing else.

mod audit;
mod bar;
mod calm;
pub mod chart;
pub mod form;
mod now;
mod page;
mod rules;
pub mod session;
mod student;
pub mod texts;
mod view;
mod week;
mod whatif;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::admin::{AdminState, Level, Tokens};
use page::{redirect, refused_form, render};
pub use page::{Dash, Lang, Operator, Visitor};
use texts::text;

/// The pages' routes, with their own state.
pub fn router(state: AdminState, tokens: Arc<Tokens>) -> Router {
    let d = Dash {
        admin: state,
        tokens,
        sessions: Arc::default(),
        failures: Arc::default(),
        whatif: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/dashboard.css", get(css))
        .route("/now", get(now::page))
        .route("/now/dead", post(now::resend))
        .route("/now/quarantine", post(now::quarantine))
        .route("/notices", post(now::notices))
        .route("/student", get(student::page))
        .route("/audit", get(audit::page))
        .route("/week", get(week::page))
        .route("/week/bar", get(bar::page))
        .route("/calm", get(calm::page))
        .route("/rules", get(rules::page))
        .route("/rules/download", get(rules::download))
        .route("/whatif", get(whatif::page).post(whatif::run))
        .route("/whatif/apply", post(whatif::apply))
        .with_state(d)
}

async fn css() -> Response {
    let mut r = include_str!("assets/dashboard.css").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`: the log-in form, or on to the first page with a session.
async fn home(State(d): State<Dash>, v: Visitor, headers: HeaderMap) -> Response {
    let live = session::cookie(&headers, session::COOKIE)
        .is_some_and(|id| d.sessions.touch(id, Instant::now()).is_some());
    if live {
        return redirect("/now", None);
    }
    login_form(&v, StatusCode::OK, None)
}

fn login_form(v: &Visitor, status: StatusCode, error: Option<&str>) -> Response {
    render(
        v,
        None,
        "",
        status,
        "login.html.j2",
        json!({ "error": error.map(|k| text(v.lang.nl, k)) }),
    )
}

/// `POST /login`: `token=…` (and nothing else).
async fn login(State(d): State<Dash>, v: Visitor, body: Bytes) -> Response {
    let now = Instant::now();
    if !d.failures.allowed(&v.address, now) {
        tracing::warn!("dashboard: log-in refused, too many failures from one address");
        return login_form(&v, StatusCode::TOO_MANY_REQUESTS, Some("too_many"));
    }
    let Ok(f) = form::parse(&body, &["token"], 1024) else {
        return login_form(&v, StatusCode::BAD_REQUEST, Some("bad_request"));
    };
    let token = form::field(&f, "token").unwrap_or("").trim();
    let caller = if token.is_empty() && d.tokens.required() {
        None
    } else {
        d.tokens
            .check(Some(&format!("Bearer {token}")), Level::Read)
            .ok()
    };
    let Some(caller) = caller else {
        d.failures.failed(&v.address, now);
        tracing::info!("dashboard: log-in refused (wrong token)");
        return login_form(&v, StatusCode::UNAUTHORIZED, Some("login_wrong"));
    };
    let audited = d
        .audit(
            caller.actor(),
            "dashboard.login",
            "dashboard".into(),
            json!({ "level": caller.level.as_str() }),
        )
        .await;
    if !audited {
        return login_form(&v, StatusCode::SERVICE_UNAVAILABLE, Some("store_down"));
    }
    let id = d.sessions.start(caller, now);
    redirect("/now", Some(session::set_cookie(&id, v.secure)))
}

/// `POST /logout` (with the session's CSRF token).
async fn logout(State(d): State<Dash>, op: Operator, body: Bytes) -> Response {
    let f = form::parse(&body, &["csrf"], 128).unwrap_or_default();
    if !session::csrf_ok(&op.session, form::field(&f, "csrf")) {
        return refused_form(&op);
    }
    d.sessions.end(&op.id);
    // Logged out either way; a failed write is in the daemon's log.
    let _ = d
        .audit(
            op.session.caller.actor(),
            "dashboard.logout",
            "dashboard".into(),
            json!({}),
        )
        .await;
    redirect("/", Some(session::clear_cookie(op.v.secure)))
}
