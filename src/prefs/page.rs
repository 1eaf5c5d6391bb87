//! The pages: `GET/POST /p/{token}` (the settings form), `GET/POST /u/{token}` (one-click
//! unsubscribe, RFC 8058). Server-rendered, no JavaScript, Dutch or English.
//!
//! - Every bad link (forged, tampered, expired, revoked, a person no longer in the
//!   directory) gets the same neutral `403` page: nothing tells whose link it was.
//! - The form is bound to the link and a per-browser cookie (`SameSite=Strict`, `HttpOnly`)
//!   by a MAC, and carries the version of the stored choice: a replayed or stale form
//!   changes nothing (`409`, the page shows the latest state).
//! - Requests are limited per link and per client address (`429`); unknown form fields are
//!   refused (`400`); bodies above `max_body_bytes` get `413` from the listener.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{NaiveDate, NaiveTime, Weekday};
use minijinja::Environment;
use serde_json::{json, Value};

use super::texts::{channel_label, sharing_sentence, texts};
use super::{Change, Prefs};
use crate::model::directory::{channels, Guardian};
use crate::model::preference::{Choice, Frequency, OwnMessages, StoredChoice};
use crate::model::time::weekday_short;
use crate::model::{ChannelKind, Directory, Locale, Role, Student};
use crate::policy::preference::{self as rules, Chooser};
use crate::policy::Policy;

pub fn router(prefs: Arc<Prefs>) -> Router {
    Router::new()
        .route("/p/{token}", get(show).post(submit))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .fallback(|| async { denied(true, StatusCode::NOT_FOUND) })
        .with_state(prefs)
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("layout.html.j2", include_str!("templates/layout.html.j2")),
            ("page.html.j2", include_str!("templates/page.html.j2")),
            ("denied.html.j2", include_str!("templates/denied.html.j2")),
            (
                "unsubscribe.html.j2",
                include_str!("templates/unsubscribe.html.j2"),
            ),
        ] {
            env.add_template(name, src)
                .expect("built-in page templates parse");
        }
        env
    })
}

/// A rendered page with the headers every page gets.
fn html(status: StatusCode, template: &str, ctx: Value) -> Response {
    let body = env()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!("preference page template {template}: {e}");
            String::from("<!DOCTYPE html><title>Error</title>")
        });
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The link is the key: never send it on as a referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

/// The neutral page for every refused link; says nothing about whose it was.
fn denied(nl_first: bool, status: StatusCode) -> Response {
    let (nl, en) = (texts(true), texts(false));
    let (a, b) = if nl_first { (&nl, &en) } else { (&en, &nl) };
    html(
        status,
        "denied.html.j2",
        json!({
            "t": a,
            "school": null,
            "message_title": format!("{} / {}", a["denied_title"].as_str().unwrap_or(""), b["denied_title"].as_str().unwrap_or("")),
            "message": format!("{} {}", a["denied"].as_str().unwrap_or(""), b["denied"].as_str().unwrap_or("")),
        }),
    )
}

fn plain_message(status: StatusCode, key: &str) -> Response {
    let (nl, en) = (texts(true), texts(false));
    html(
        status,
        "denied.html.j2",
        json!({
            "t": nl,
            "school": null,
            "message_title": format!("{} / {}", nl["title"].as_str().unwrap_or(""), en["title"].as_str().unwrap_or("")),
            "message": format!("{} {}", nl[key].as_str().unwrap_or(""), en[key].as_str().unwrap_or("")),
        }),
    )
}

/// The person a valid link opens.
struct Opened {
    token: String,
    school: String,
    role: Role,
    person: String,
    policy: Policy,
    /// As the school exported it (contacts before channels were switched off).
    listed: Arc<Directory>,
    stored: Option<StoredChoice>,
    today: NaiveDate,
}

impl Opened {
    fn choice(&self) -> Choice {
        self.stored
            .as_ref()
            .map(|s| s.choice.clone())
            .unwrap_or_default()
    }

    fn version(&self) -> i64 {
        self.stored.as_ref().map(|s| s.version).unwrap_or(0)
    }

    fn student(&self) -> Option<&Student> {
        match self.role {
            Role::Student => self.listed.student(&self.school, &self.person),
            Role::Guardian => None,
        }
    }

    fn guardian(&self) -> Option<(&Guardian, Vec<&Student>)> {
        let students = self.listed.students_of(&self.school, &self.person);
        let g = students
            .iter()
            .find_map(|s| s.guardians.iter().find(|g| g.id == self.person))?;
        let students = students
            .into_iter()
            .filter(|s| s.id != self.person)
            .collect();
        Some((g, students))
    }

    fn channels(&self) -> Vec<ChannelKind> {
        match self.role {
            Role::Student => self
                .student()
                .map(|s| channels(&s.contacts))
                .unwrap_or_default(),
            Role::Guardian => self
                .guardian()
                .map(|(g, _)| channels(&g.contacts))
                .unwrap_or_default(),
        }
    }

    fn locale(&self) -> Locale {
        let listed = match self.role {
            Role::Student => self.student().map(|s| s.locale),
            Role::Guardian => self.guardian().map(|(g, _)| g.locale),
        };
        self.choice().locale.or(listed).unwrap_or_default()
    }

    fn age(&self) -> u32 {
        self.student().map(|s| s.age_on(self.today)).unwrap_or(0)
    }

    fn first_name(&self) -> String {
        let name = match self.role {
            Role::Student => self.student().map(|s| s.name.clone()),
            Role::Guardian => self.guardian().map(|(g, _)| g.name.clone()),
        }
        .unwrap_or_default();
        name.split_whitespace().next().unwrap_or("").to_string()
    }
}

/// The client's address: the peer, or behind a proxy on this host the address it adds
/// last to `X-Forwarded-For`.
fn client(peer: SocketAddr, headers: &HeaderMap) -> String {
    if peer.ip().is_loopback() {
        if let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            if let Some(last) = xff.rsplit(',').next() {
                return last.trim().to_string();
            }
        }
    }
    peer.ip().to_string()
}

/// Rate limits, then the token, then the person: `Err` is the response to give.
async fn open(
    p: &Prefs,
    token: &str,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Opened, Response> {
    let Some(cfg) = p.config() else {
        return Err(denied(true, StatusCode::NOT_FOUND));
    };
    let now = p.now();
    let link_key = format!("l:{}", &hex::encode(sha2_256(token.as_bytes()))[..32]);
    if !p.rates.allow(
        &format!("a:{}", client(peer, headers)),
        cfg.per_address_per_minute,
        now.timestamp(),
    ) || !p
        .rates
        .allow(&link_key, cfg.per_link_per_minute, now.timestamp())
    {
        tracing::warn!("preference page: rate limit reached");
        return Err(plain_message(StatusCode::TOO_MANY_REQUESTS, "too_many"));
    }
    let claims = match p.keys().verify(token, now) {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(%why, "preference link refused");
            return Err(denied(true, StatusCode::FORBIDDEN));
        }
    };
    let config = p.ingestor.shared().config();
    let Some(policy) = config.policy(&claims.school).cloned() else {
        tracing::info!("preference link refused: school no longer configured");
        return Err(denied(true, StatusCode::FORBIDDEN));
    };
    let stored = match p
        .store
        .preferences()
        .choice(&claims.school, &claims.person)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("preference page: store: {e}");
            return Err(plain_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "bad_request",
            ));
        }
    };
    if stored
        .as_ref()
        .and_then(|s| s.links_from)
        .is_some_and(|from| claims.issued < from)
    {
        tracing::info!("preference link refused: revoked");
        return Err(denied(true, StatusCode::FORBIDDEN));
    }
    let today = now.with_timezone(&policy.calendar.tz).date_naive();
    let opened = Opened {
        token: token.to_string(),
        school: claims.school,
        role: claims.role,
        person: claims.person,
        policy,
        listed: p.ingestor.shared().listed_directory(),
        stored,
        today,
    };
    let known = match opened.role {
        Role::Student => opened.student().is_some(),
        Role::Guardian => opened.guardian().is_some(),
    };
    if !known {
        tracing::info!("preference link refused: person no longer in the directory");
        return Err(denied(true, StatusCode::FORBIDDEN));
    }
    Ok(opened)
}

fn sha2_256(b: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(b).to_vec()
}

const COOKIE: &str = "rustig_form";

fn cookie_nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == COOKIE && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, v)| v.to_string())
}

fn new_nonce() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("the system's random source");
    hex::encode(b)
}

#[derive(serde::Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn show(
    State(p): State<Arc<Prefs>>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<Saved>,
    headers: HeaderMap,
) -> Response {
    let o = match open(&p, &token, peer, &headers).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (nonce, set) = match cookie_nonce(&headers) {
        Some(n) => (n, false),
        None => (new_nonce(), true),
    };
    let mut r = page(
        &p,
        &o,
        &nonce,
        &o.choice(),
        Ctx {
            saved: q.saved.is_some(),
            ..Ctx::default()
        },
    );
    if set {
        set_cookie(&p, &mut r, &nonce);
    }
    r
}

fn set_cookie(p: &Prefs, r: &mut Response, nonce: &str) {
    let secure = p.config().is_some_and(|c| c.base_url.scheme() == "https");
    let v = format!(
        "{COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Default)]
struct Ctx {
    saved: bool,
    errors: Vec<String>,
    notice: Option<String>,
    status: Option<StatusCode>,
}

/// The settings page for `o`, showing `c`.
fn page(p: &Prefs, o: &Opened, nonce: &str, c: &Choice, ctx: Ctx) -> Response {
    let nl = o.locale() == Locale::Nl;
    let t = texts(nl);
    let csrf = p.keys().tag(&["csrf", &o.token, nonce]);
    let chans: Vec<Value> = o
        .channels()
        .into_iter()
        .map(|k| json!({"kind": k.as_str(), "label": channel_label(nl, k), "on": !c.channels_off.contains(&k)}))
        .collect();
    let (frequency, day, time) = match c.frequency.unwrap_or(Frequency::Asap) {
        Frequency::Asap => ("asap", None, None),
        Frequency::Daily => ("daily", None, None),
        Frequency::Weekly => ("weekly", None, None),
        Frequency::Custom { day, time } => ("custom", Some(day), Some(time)),
    };
    let day = match day.flatten() {
        Some(d) => weekday_short(d).to_string(),
        None => "school_days".into(),
    };
    let times: Vec<String> = rules::offered_times(&o.policy.calendar, o.today)
        .iter()
        .map(|t| t.format("%H:%M").to_string())
        .collect();
    let time = time
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_else(|| "17:00".into());
    let day_names: &[&str] = if nl {
        &["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag"]
    } else {
        &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    };
    let days: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .zip(day_names)
        .map(|(v, l)| json!({"value": v, "label": l}))
        .collect();
    let mut students: Vec<String> = Vec::new();
    let mut report_floor = false;
    if let Some((_, of)) = o.guardian() {
        let chosen = p.ingestor.shared().choices();
        for s in of {
            let age = s.age_on(o.today);
            report_floor |= rules::report_grades_always_shared(age);
            let sc = chosen.get(&(s.school.clone(), s.id.clone()));
            let sh = rules::sharing(age, s.guardian_access, sc, &o.policy.consent);
            students.push(sharing_sentence(nl, s.first_name(), &sh));
        }
    }
    let age = o.age();
    let may_share = o.role == Role::Student && rules::student_may_share(age, &o.policy.consent);
    if o.role == Role::Student {
        report_floor = rules::report_grades_always_shared(age);
    }
    let share = o.student().map(|s| {
        let sh = rules::sharing(age, s.guardian_access, Some(c), &o.policy.consent);
        json!({"grades": sh.grades, "absences": sh.absences})
    });
    let own = match c.own.unwrap_or(OwnMessages::Immediate) {
        OwnMessages::Immediate => "immediate",
        OwnMessages::Daily => "daily",
    };
    html(
        ctx.status.unwrap_or(StatusCode::OK),
        "page.html.j2",
        json!({
            "t": t,
            "school": o.policy.school_name,
            "first_name": o.first_name(),
            "role": o.role.as_str(),
            "csrf": csrf,
            "version": o.version(),
            "saved": ctx.saved,
            "errors": ctx.errors,
            "notice": ctx.notice,
            "frequency": frequency,
            "day": day,
            "days": days,
            "time": time,
            "times": times,
            "channels": chans,
            "locale": c.locale.unwrap_or(o.locale()).as_str(),
            "own": own,
            "may_share": may_share,
            "share": share,
            "students": students,
            "report_floor": report_floor,
        }),
    )
}

/// The submitted form: every field once at most (`on` repeats), nothing else.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, ()> {
    const FIELDS: &[&str] = &[
        "csrf",
        "version",
        "frequency",
        "day",
        "time",
        "on",
        "locale",
        "share_grades",
        "share_absences",
        "own",
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if !FIELDS.contains(&k.as_ref()) || v.len() > 512 {
            return Err(());
        }
        if k != "on" && out.iter().any(|(x, _)| *x == k) {
            return Err(());
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn field<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

/// The choice a form describes, over the stored one; `Err` for a value no form offers.
fn choice_from(o: &Opened, form: &[(String, String)]) -> Result<Choice, ()> {
    let mut c = o.choice();
    let on: Vec<ChannelKind> = form
        .iter()
        .filter(|(k, _)| k == "on")
        .map(|(_, v)| ChannelKind::parse(v).ok_or(()))
        .collect::<Result<_, _>>()?;
    c.channels_off = o
        .channels()
        .into_iter()
        .filter(|k| !on.contains(k))
        .collect();
    if let Some(l) = field(form, "locale") {
        c.locale = Some(match l {
            "nl" => Locale::Nl,
            "en" => Locale::En,
            _ => return Err(()),
        });
    }
    match o.role {
        Role::Guardian => {
            if let Some(f) = field(form, "frequency") {
                c.frequency = Some(match f {
                    "asap" => Frequency::Asap,
                    "daily" => Frequency::Daily,
                    "weekly" => Frequency::Weekly,
                    "custom" => {
                        let day = match field(form, "day").unwrap_or("school_days") {
                            "school_days" => None,
                            d => Some(parse_day(d).ok_or(())?),
                        };
                        let time =
                            NaiveTime::parse_from_str(field(form, "time").ok_or(())?, "%H:%M")
                                .map_err(|_| ())?;
                        Frequency::Custom { day, time }
                    }
                    _ => return Err(()),
                });
            }
            for k in ["share_grades", "share_absences", "own"] {
                if field(form, k).is_some() {
                    return Err(());
                }
            }
        }
        Role::Student => {
            if let Some(v) = field(form, "own") {
                c.own = Some(match v {
                    "immediate" => OwnMessages::Immediate,
                    "daily" => OwnMessages::Daily,
                    _ => return Err(()),
                });
            }
            let yes_no = |v: &str| match v {
                "yes" => Ok(true),
                "no" => Ok(false),
                _ => Err(()),
            };
            if let Some(v) = field(form, "share_grades") {
                c.share_grades = Some(yes_no(v)?);
            }
            if let Some(v) = field(form, "share_absences") {
                c.share_absences = Some(yes_no(v)?);
            }
            for k in ["frequency", "day", "time"] {
                if field(form, k).is_some() {
                    return Err(());
                }
            }
        }
    }
    Ok(c)
}

fn parse_day(d: &str) -> Option<Weekday> {
    Some(match d {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        _ => return None,
    })
}

async fn submit(
    State(p): State<Arc<Prefs>>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let o = match open(&p, &token, peer, &headers).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(form) = parse_form(&body) else {
        return plain_message(StatusCode::BAD_REQUEST, "bad_request");
    };
    let nl = o.locale() == Locale::Nl;
    let t = texts(nl);
    // CSRF: the form must come from a page this browser got for this link.
    let csrf_ok = match (cookie_nonce(&headers), field(&form, "csrf")) {
        (Some(nonce), Some(given)) => p.keys().check_tag(&["csrf", &token, &nonce], given),
        _ => false,
    };
    if !csrf_ok {
        return plain_message(StatusCode::FORBIDDEN, "form_expired");
    }
    let nonce = cookie_nonce(&headers).unwrap_or_default();
    let Ok(c) = choice_from(&o, &form) else {
        return plain_message(StatusCode::BAD_REQUEST, "bad_request");
    };
    let version: i64 = match field(&form, "version").and_then(|v| v.parse().ok()) {
        Some(v) => v,
        None => return plain_message(StatusCode::BAD_REQUEST, "bad_request"),
    };
    let stale = |o: &Opened| {
        page(
            &p,
            o,
            &nonce,
            &o.choice(),
            Ctx {
                notice: t["stale"].as_str().map(str::to_string),
                status: Some(StatusCode::CONFLICT),
                ..Ctx::default()
            },
        )
    };
    if version != o.version() {
        return stale(&o);
    }
    let channels = o.channels();
    let who = Chooser {
        role: o.role,
        age: o.age(),
        channels: &channels,
    };
    if let Err(refusals) = rules::validate(&who, &c, &o.policy, o.today) {
        let errors = refusals.iter().map(|r| r.text(nl)).collect();
        return page(
            &p,
            &o,
            &nonce,
            &c,
            Ctx {
                errors,
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                ..Ctx::default()
            },
        );
    }
    let change = Change {
        school: o.school.clone(),
        person: o.person.clone(),
        role: o.role,
        choice: c,
        links_from: o.stored.as_ref().and_then(|s| s.links_from),
        expected: version,
        actor: format!("{}:{}", o.role.as_str(), o.person),
        action: "preferences.set".into(),
        reason: None,
    };
    match p.change(change).await {
        Ok(Some(_)) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            // Relative: keeps whatever path prefix the school's proxy adds.
            let loc = format!("{}?saved=1", token);
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(None) => match open(&p, &token, peer, &headers).await {
            Ok(fresh) => stale(&fresh),
            Err(r) => r,
        },
        Err(e) => {
            tracing::warn!("preference page: storing a change failed: {e}");
            plain_message(StatusCode::SERVICE_UNAVAILABLE, "bad_request")
        }
    }
}

async fn unsubscribe_page(
    State(p): State<Arc<Prefs>>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    // A GET never changes anything (mail scanners follow links).
    let o = match open(&p, &token, peer, &headers).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let t = texts(o.locale() == Locale::Nl);
    html(
        StatusCode::OK,
        "unsubscribe.html.j2",
        json!({"t": t, "school": o.policy.school_name, "done": false, "page_href": format!("../p/{token}")}),
    )
}

/// RFC 8058: `POST` with `List-Unsubscribe=One-Click`, as mail providers send it. Sets the
/// calmest setting the rules allow (weekly digest for a guardian, daily for a student).
async fn unsubscribe(
    State(p): State<Arc<Prefs>>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut o = match open(&p, &token, peer, &headers).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let one_click = url::form_urlencoded::parse(&body)
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    if !one_click {
        return plain_message(StatusCode::BAD_REQUEST, "bad_request");
    }
    // Two tries: a change made in between is kept and the calm setting laid over it.
    for _ in 0..2 {
        let change = Change {
            school: o.school.clone(),
            person: o.person.clone(),
            role: o.role,
            choice: rules::one_click(o.role, o.choice()),
            links_from: o.stored.as_ref().and_then(|s| s.links_from),
            expected: o.version(),
            actor: format!("{}:{}", o.role.as_str(), o.person),
            action: "preferences.unsubscribe".into(),
            reason: None,
        };
        match p.change(change).await {
            Ok(Some(_)) => {
                let t = texts(o.locale() == Locale::Nl);
                return html(
                    StatusCode::OK,
                    "unsubscribe.html.j2",
                    json!({"t": t, "school": o.policy.school_name, "done": true, "page_href": format!("../p/{token}")}),
                );
            }
            Ok(None) => match p.store.preferences().choice(&o.school, &o.person).await {
                Ok(s) => o.stored = s,
                Err(_) => break,
            },
            Err(e) => {
                tracing::warn!("one-click unsubscribe: storing failed: {e}");
                break;
            }
        }
    }
    plain_message(StatusCode::SERVICE_UNAVAILABLE, "bad_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_refuse_unknown_and_repeated_fields() {
        assert!(parse_form(b"csrf=a&version=1&on=email&on=ntfy").is_ok());
        assert!(parse_form(b"csrf=a&student=s-2").is_err());
        assert!(parse_form(b"csrf=a&csrf=b").is_err());
    }

    #[test]
    fn templates_parse() {
        for name in ["page.html.j2", "denied.html.j2", "unsubscribe.html.j2"] {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let r = denied(true, StatusCode::FORBIDDEN);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
