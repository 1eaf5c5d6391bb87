//! What every page shares: the handlers' state ([`Dash`]), who is asking ([`Visitor`],
//! [`Operator`]: the session and its CSRF token), the page's language, rendering with the
//! layout and the security headers, and the common answers (a message, a redirect, a refused
//! form, the store down). The pages' modules and the router in `mod.rs` use it; it uses none
//! of them.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde_json::{json, Value};

use super::session::{self, Failures, Session, Sessions};
use super::texts::{text, texts};
use crate::admin::{AdminState, Tokens};
use crate::store::audit::AuditEntry;

/// What every page handler reaches.
#[derive(Clone)]
pub struct Dash {
    pub admin: AdminState,
    pub tokens: Arc<Tokens>,
    pub sessions: Arc<Sessions>,
    pub failures: Arc<Failures>,
    /// What-ifs run one at a time (each may take a core for a second or two).
    pub whatif: Arc<tokio::sync::Semaphore>,
}

const LANG_COOKIE: &str = "rustig_lang";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("layout.html.j2", include_str!("templates/layout.html.j2")),
            ("login.html.j2", include_str!("templates/login.html.j2")),
            ("message.html.j2", include_str!("templates/message.html.j2")),
            ("now.html.j2", include_str!("templates/now.html.j2")),
            ("student.html.j2", include_str!("templates/student.html.j2")),
            ("audit.html.j2", include_str!("templates/audit.html.j2")),
            ("macros.html.j2", include_str!("templates/macros.html.j2")),
            ("bar.html.j2", include_str!("templates/bar.html.j2")),
            ("week.html.j2", include_str!("templates/week.html.j2")),
            ("calm.html.j2", include_str!("templates/calm.html.j2")),
            ("rules.html.j2", include_str!("templates/rules.html.j2")),
            ("whatif.html.j2", include_str!("templates/whatif.html.j2")),
        ] {
            env.add_template(name, src)
                .expect("built-in dashboard templates parse");
        }
        env
    })
}

/// The page's language: `?lang=`, else the cookie, else `Accept-Language`, else Dutch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lang {
    pub nl: bool,
    /// Chosen by `?lang=` on this request: remember it in the cookie.
    pub chosen: bool,
}

fn lang_of(headers: &HeaderMap, query: Option<&str>) -> Lang {
    let asked = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    match asked.as_deref() {
        Some("nl") => {
            return Lang {
                nl: true,
                chosen: true,
            }
        }
        Some("en") => {
            return Lang {
                nl: false,
                chosen: true,
            }
        }
        _ => {}
    }
    let nl = match session::cookie(headers, LANG_COOKIE) {
        Some("nl") => true,
        Some("en") => false,
        _ => accept_language_nl(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
    };
    Lang { nl, chosen: false }
}

/// Dutch unless `Accept-Language` prefers English to Dutch.
fn accept_language_nl(value: &str) -> bool {
    let mut best: Option<(f32, bool)> = None;
    for item in value.split(',') {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
            .unwrap_or(1.0f32);
        let nl = match tag.split('-').next() {
            Some("nl") => true,
            Some("en") => false,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, nl));
        }
    }
    best.is_none_or(|(_, nl)| nl)
}

/// The path and query of this request without `lang`, to switch language on the same page.
fn here(parts: &Parts) -> String {
    let path = parts.uri.path();
    let rest: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "lang")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    if rest.is_empty() {
        path.to_string()
    } else {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(rest)
            .finish();
        format!("{path}?{q}")
    }
}

/// The client's address: the peer, or behind a proxy on this host the address it adds
/// last to `X-Forwarded-For`.
fn client(parts: &Parts) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match peer {
        Some(p) if p.ip().is_loopback() => parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|x| x.rsplit(',').next())
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| p.ip().to_string()),
        Some(p) => p.ip().to_string(),
        None => "unknown".into(),
    }
}

/// A proxy on the way says the browser used HTTPS.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A request, whoever sent it: language, address, where it came from.
pub struct Visitor {
    pub lang: Lang,
    pub address: String,
    pub secure: bool,
    pub here: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Visitor {
            lang: lang_of(&parts.headers, parts.uri.query()),
            address: client(parts),
            secure: over_https(&parts.headers),
            here: here(parts),
        })
    }
}

/// A request in a live session. Without one: `GET` is sent to the log-in form, anything
/// else gets `401`.
pub struct Operator {
    pub v: Visitor,
    pub id: String,
    pub session: Session,
}

impl Operator {
    pub fn nl(&self) -> bool {
        self.v.lang.nl
    }
}

impl FromRequestParts<Dash> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Dash) -> Result<Self, Self::Rejection> {
        let Ok(v) = Visitor::from_request_parts(parts, d).await;
        let id = session::cookie(&parts.headers, session::COOKIE).map(str::to_string);
        match id.and_then(|id| d.sessions.touch(&id, Instant::now()).map(|s| (id, s))) {
            Some((id, session)) => Ok(Operator { v, id, session }),
            None if parts.method == Method::GET || parts.method == Method::HEAD => {
                Err(redirect("/", None))
            }
            None => Err(message(
                &v,
                None,
                StatusCode::UNAUTHORIZED,
                "login_title",
                text(v.lang.nl, "session_gone").to_string(),
                Some("/"),
            )),
        }
    }
}

/// `303 See Other` to a path of ours.
pub fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A path of ours to go back to after a form: absolute, not to another host.
pub fn local_path(back: Option<&str>, default: &str) -> String {
    match back {
        Some(b)
            if b.starts_with('/') && !b.starts_with("//") && !b.contains(['\\', '\r', '\n']) =>
        {
            b.to_string()
        }
        _ => default.to_string(),
    }
}

/// Renders `template` with the layout's context: texts, navigation, session, flash message.
pub(super) fn render(
    v: &Visitor,
    op: Option<&Session>,
    active: &str,
    status: StatusCode,
    template: &str,
    ctx: Value,
) -> Response {
    let nl = v.lang.nl;
    let t = texts(nl);
    let nav: Vec<Value> = [
        ("now", "/now"),
        ("week", "/week"),
        ("student", "/student"),
        ("rules", "/rules"),
        ("calm", "/calm"),
        ("whatif", "/whatif"),
        ("audit", "/audit"),
    ]
    .iter()
    .filter(|(id, _)| pages_available().contains(id))
    .map(|(id, href)| json!({"id": id, "href": href, "label": text(nl, &format!("nav_{id}"))}))
    .collect();
    let other = if nl { "en" } else { "nl" };
    let lang_href = if v.here.contains('?') {
        format!("{}&lang={other}", v.here)
    } else {
        format!("{}?lang={other}", v.here)
    };
    let mut base = json!({
        "t": t,
        "nav": nav,
        "active": active,
        "lang_href": lang_href,
        "here": v.here,
        "session": op.is_some(),
    });
    if let Some(s) = op {
        base["who"] = json!(s.caller.name);
        base["level"] = json!(s.caller.level.as_str());
        base["csrf"] = json!(s.csrf);
        if let Some((m, err)) = &s.flash {
            base["flash"] = json!(m);
            base["flash_error"] = json!(err);
        }
    }
    if let (Value::Object(b), Value::Object(c)) = (&mut base, ctx) {
        b.extend(c);
    }
    let body = env()
        .get_template(template)
        .and_then(|tpl| tpl.render(&base))
        .unwrap_or_else(|e| {
            tracing::error!("dashboard template {template}: {e:#}");
            String::from("<!DOCTYPE html><title>Error</title><p>Error</p>")
        });
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    if v.lang.chosen {
        let c = format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000{}",
            if nl { "nl" } else { "en" },
            if v.secure { "; Secure" } else { "" }
        );
        if let Ok(c) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, c);
        }
    }
    r
}

/// The headers every page gets: not cached, not framed, nothing loaded from elsewhere.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// The pages this build serves (the navigation lists only these).
fn pages_available() -> &'static [&'static str] {
    &["now", "week", "student", "rules", "calm", "whatif", "audit"]
}

/// A page with one message and a link back.
pub fn message(
    v: &Visitor,
    op: Option<&Session>,
    status: StatusCode,
    title_key: &str,
    message: String,
    back: Option<&str>,
) -> Response {
    render(
        v,
        op,
        "",
        status,
        "message.html.j2",
        json!({
            "title": text(v.lang.nl, title_key),
            "message": message,
            "back": back,
            "error": status.is_client_error() || status.is_server_error(),
        }),
    )
}

impl Dash {
    /// A page for a logged-in operator.
    pub fn page(&self, op: &Operator, active: &str, template: &str, ctx: Value) -> Response {
        render(
            &op.v,
            Some(&op.session),
            active,
            StatusCode::OK,
            template,
            ctx,
        )
    }

    /// Writes one audit entry for the dashboard itself (log-in, log-out, look-ups); `false`
    /// when the store did not take it (the access is then refused: none goes unaudited).
    pub async fn audit(&self, actor: String, action: &str, target: String, after: Value) -> bool {
        let entry = AuditEntry::new(self.admin.clock.now(), actor, action, target)
            .change(None, Some(after));
        match self.admin.store.audit().append(&entry).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, action, "dashboard: writing the audit trail failed");
                false
            }
        }
    }
}

/// `403` for a form without the session's CSRF token.
pub fn refused_form(op: &Operator) -> Response {
    message(
        &op.v,
        Some(&op.session),
        StatusCode::FORBIDDEN,
        "action_refused",
        text(op.nl(), "form_expired").to_string(),
        Some("/now"),
    )
}

/// `503` when the store does not answer.
pub fn store_down(op: &Operator) -> Response {
    message(
        &op.v,
        Some(&op.session),
        StatusCode::SERVICE_UNAVAILABLE,
        "action_refused",
        "the store did not answer; try again / de opslag antwoordde niet; probeer het opnieuw"
            .into(),
        Some(&op.v.here),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        let env = env();
        for name in [
            "layout.html.j2",
            "login.html.j2",
            "message.html.j2",
            "now.html.j2",
            "student.html.j2",
            "audit.html.j2",
            "bar.html.j2",
            "week.html.j2",
            "calm.html.j2",
            "rules.html.j2",
            "whatif.html.j2",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn accept_language_picks_dutch_unless_english_is_preferred() {
        assert!(accept_language_nl(""));
        assert!(accept_language_nl("nl-NL,nl;q=0.9,en;q=0.8"));
        assert!(!accept_language_nl("en-GB,en;q=0.9,nl;q=0.5"));
        assert!(!accept_language_nl("de, en;q=0.7"));
        assert!(accept_language_nl("de, fr"));
        assert!(accept_language_nl("en;q=0, nl;q=0.1"));
    }

    #[test]
    fn only_local_paths_are_followed_back() {
        assert_eq!(
            local_path(Some("/student?student=s-1"), "/now"),
            "/student?student=s-1"
        );
        assert_eq!(local_path(Some("//evil.example/"), "/now"), "/now");
        assert_eq!(local_path(Some("https://evil.example/"), "/now"), "/now");
        assert_eq!(local_path(None, "/now"), "/now");
    }
}

#[cfg(test)]
mod render_tests {
    use super::super::chart;
    use super::*;

    /// The week template with a day of bars and shades renders (minijinja reports errors at
    /// render time only).
    #[test]
    fn the_week_template_renders() {
        use chrono::{DateTime, Utc};
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        let days = chart::days(
            tz,
            t("2026-11-23T19:00:00+01:00"),
            t("2026-11-30T19:00:00+01:00"),
            &[chart::BarIn {
                start: t("2026-11-24T09:00:00+01:00"),
                total: 2,
                parts: "x".into(),
                href: "/week/bar?school=a&start=1".into(),
            }],
            &[chart::ShadeIn {
                start: t("2026-11-23T20:00:00+01:00"),
                end: t("2026-11-24T07:00:00+01:00"),
                kind: "quiet",
            }],
            true,
        );
        let ctx = json!({
            "t": texts(true), "nav": [], "active": "week", "lang_href": "/week?lang=en",
            "here": "/week", "session": true, "csrf": "c", "who": "w", "level": "read",
            "title": "x", "schools": [], "school": "a", "school_name": "A", "zone": "Europe/Amsterdam",
            "from": "a", "to": "b", "in_week": 2, "overdue": 0, "beyond": 0, "days": days,
            "bars_drawn": 1, "width": chart::WIDTH, "height": chart::HEIGHT, "bars_h": chart::BARS,
            "ticks": [{"x": 0.0, "label": "00"}],
        });
        let html = env()
            .get_template("week.html.j2")
            .unwrap()
            .render(&ctx)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 1);
    }

    /// Every page template renders with lists that have an item (minijinja finds an unknown
    /// filter or a bad expression only when it gets there).
    #[test]
    fn every_template_renders_with_items() {
        let n = json!({
            "id": 7, "school": "a", "school_name": "A", "student": "s-1", "class": "3c",
            "recipient": "g-1", "role": "ouder", "channel": "email", "kind": "cijfer",
            "state": "pending", "state_label": "Wachtend", "due": "ma 23 nov 09:00",
            "sent": null, "attempts": 1, "last_error": "x", "explain": ["entered"],
            "pending": true,
        });
        let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let week_days = json!(chart::days(
            tz,
            at("2026-11-23T19:00:00+01:00"),
            at("2026-11-30T19:00:00+01:00"),
            &[chart::BarIn {
                start: at("2026-11-24T09:00:00+01:00"),
                total: 2,
                parts: "x".into(),
                href: String::new(),
            }],
            &[chart::ShadeIn {
                start: at("2026-11-23T20:00:00+01:00"),
                end: at("2026-11-24T07:00:00+01:00"),
                kind: "quiet",
            }],
            false,
        ));
        let calm = json!({"messages": 1, "families": 1, "median": "1.0", "p90": "1.0",
            "quiet": 0, "weekend": 0, "holidays": 0, "student_to_guardian": null,
            "discussed": null, "corrections": 0});
        let base = json!({
            "t": texts(false), "nav": [{"id": "now", "href": "/now", "label": "Now"}],
            "active": "now", "lang_href": "/now?lang=nl", "here": "/now", "session": true,
            "csrf": "c", "who": "w", "level": "read", "title": "x", "flash": "done",
            "flash_error": false,
        });
        let pages = [
            (
                "bar.html.j2",
                json!({"school": "a", "school_name": "A", "week_href": "/week?school=a",
                "from": "a", "until": "b", "items": [n.clone()], "next_href": "/week/bar?x"}),
            ),
            (
                "student.html.j2",
                json!({"student": "s-1", "listed": [{"school": "A", "class": "3c"}],
                "waiting": [n.clone()], "sent": [n.clone()], "other": [n.clone()], "empty": false,
                "next_href": "/student?x"}),
            ),
            (
                "now.html.j2",
                json!({"store_ok": true, "store_backend": "sqlite", "quarantined": 1,
                "schools": [{"id": "a", "name": "A", "timezone": "Europe/Amsterdam",
                    "counts": [{"state": "pending", "label": "P", "n": 1}],
                    "next": {"at": "x", "from_now": "1h", "notices": 2, "more": false,
                        "holds": [{"role": "r", "channel": "email", "n": 2}]},
                    "oldest": "x", "overdue_by": "1h", "unresolved": 1}],
                "dead": [n.clone()], "dead_more": true,
                "quarantine": [{"id": 1, "received": "x", "source": "http", "kind": "rejected",
                    "reason": "r", "bytes": 3, "truncated": true}], "quarantine_more": true}),
            ),
            (
                "audit.html.j2",
                json!({"items": [{"id": 1, "at": "x", "actor": "a", "action": "b",
                "target": "c", "before": "{}", "after": "{}"}], "next_href": "/audit?after=1"}),
            ),
            (
                "calm.html.j2",
                json!({"schools": [{"id": "a", "name": "A", "chosen": true}, {"id": "b", "name": "B", "chosen": false}],
                "school": "a", "school_name": "A", "week": "2026-W48", "from": "x", "until": "y",
                "prev_href": "/calm?a", "next_href": "/calm?b", "f": {"messages": 1, "families": 1,
                "median": "1.0", "p90": "1.0", "quiet": 1, "weekend": 0, "holidays": 0, "blackouts": 1,
                "student_to_guardian": "1 h", "discussed": "50%", "corrections": 0}}),
            ),
            (
                "rules.html.j2",
                json!({"schools": [{"id": "a", "name": "A", "chosen": true}, {"id": "b", "name": "B", "chosen": false}],
                "school": "a", "school_name": "A", "paragraphs": [{"heading": "h", "text": "t"}],
                "download_nl": "/rules/download?x", "download_en": "/rules/download?y"}),
            ),
            (
                "message.html.j2",
                json!({"message": "m", "back": "/now", "error": true}),
            ),
            ("login.html.j2", json!({"error": "e", "session": false})),
            (
                "whatif.html.j2",
                json!({"days": 14, "max_days": 60, "max_kib": 256,
                "candidate": "a = 1", "errors": [{"line": 1, "column": 2, "key": "k", "message": "m"}],
                "refusal": "r", "width": chart::WIDTH, "height": chart::HEIGHT, "bars_h": chart::BARS,
                "report": {"days": 14, "events": 3, "current_sha256": "abc", "candidate_sha256": "def",
                    "restart_only": ["store.url"],
                    "pending": {"before": 1, "after": 1, "rows": [{"name": "Total", "earlier": 0, "later": 1, "same": 0, "disappear": 0, "appear": 0, "changed": 1}]},
                    "replay": {"before": 1, "after": 1, "rows": [{"name": "Total", "earlier": 0, "later": 1, "same": 0, "disappear": 0, "appear": 0, "changed": 1}]},
                    "rules_before": "x", "rules_after": "y",
                    "schools": [{"id": "a", "name": "A", "before": {"days": week_days.clone(), "total": 2},
                        "after": {"days": week_days.clone(), "total": 2},
                        "calm": [{"week": "ma 23 nov", "before": calm.clone(), "after": calm.clone()}]}]}}),
            ),
        ];
        for (name, extra) in pages {
            let mut ctx = base.clone();
            if let (Value::Object(b), Value::Object(e)) = (&mut ctx, extra) {
                b.extend(e);
            }
            env()
                .get_template(name)
                .unwrap()
                .render(&ctx)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }
}
