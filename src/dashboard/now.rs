//! **Now**: per school the notices by state, the next release, the oldest pending notice;
//! the failed notices and the quarantine with their actions; one pending notice cancelled or
//! released now. The actions are the API's own ([`crate::admin::actions`]): the same checks,
//! the same audit entries, under the name of the operate token given in the form.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::DateTime;
use serde_json::{json, Value};

use super::form::{self, Fields};
use super::page::{local_path, message, redirect, refused_form, store_down, Dash, Operator};
use super::session;
use super::texts::text;
use super::view::{notice, school_name, when};
use crate::admin::actions::{self, ResendRequest};
use crate::admin::auth::Refusal;
use crate::admin::{Caller, Level};
use crate::store::admin::NoticeFilter;

/// Items listed per section; more are counted, not shown.
const LISTED: u32 = 100;
/// Notices one form may act on at once.
const MAX_IDS: usize = 1_000;

/// An RFC 3339 instant of the status as the page shows it.
fn pretty(rfc3339: &str, tz: chrono_tz::Tz, nl: bool) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| when(t.to_utc(), tz, nl))
        .unwrap_or_else(|_| rfc3339.to_string())
}

pub async fn page(State(d): State<Dash>, op: Operator) -> Response {
    let nl = op.nl();
    let config = d.admin.shared.config();
    let dir = d.admin.shared.directory();
    let now = d.admin.clock.now();
    let Ok(status) = crate::admin::status::build(&*d.admin.store, &config, now).await else {
        return store_down(&op);
    };
    let schools: Vec<Value> = status
        .schools
        .iter()
        .map(|s| {
            let tz = crate::admin::api::zone(&config, &s.school);
            let counts: Vec<Value> = [
                ("pending", s.pending),
                ("claimed", s.claimed),
                ("sent", s.sent),
                ("dead", s.dead),
                ("cancelled", s.cancelled),
            ]
            .iter()
            .map(|(k, n)| json!({"state": k, "label": text(nl, &format!("state_{k}")), "n": n}))
            .collect();
            let next = s.next_release.as_ref().map(|r| {
                json!({
                    "at": pretty(&r.at, tz, nl),
                    "from_now": r.from_now,
                    "notices": if r.more { r.notices - 1 } else { r.notices },
                    "more": r.more,
                    "holds": r.holds.iter().map(|h| json!({
                        "role": text(nl, &format!("role_{}", h.role)),
                        "channel": h.channel,
                        "n": h.notices,
                    })).collect::<Vec<_>>(),
                })
            });
            json!({
                "id": s.school,
                "name": s.name,
                "timezone": s.timezone,
                "counts": counts,
                "next": next,
                "oldest": s.oldest_pending_due.as_deref().map(|t| pretty(t, tz, nl)),
                "overdue_by": s.overdue_by,
                "unresolved": s.unresolved,
            })
        })
        .collect();
    let dead_filter = NoticeFilter {
        state: Some("dead".into()),
        ..NoticeFilter::default()
    };
    let views = d.admin.store.views();
    let Ok(dead) = views.notices(&dead_filter, None, LISTED + 1).await else {
        return store_down(&op);
    };
    let Ok(quarantined) = views.quarantined(None, LISTED + 1).await else {
        return store_down(&op);
    };
    let tz = config.default_policy.calendar.tz;
    let quarantine: Vec<Value> = quarantined
        .iter()
        .take(LISTED as usize)
        .map(|q| {
            json!({
                "id": q.id,
                "received": when(q.received_at, tz, nl),
                "source": q.source,
                "kind": q.kind,
                "reason": q.reason,
                "bytes": q.bytes,
                "truncated": q.truncated(),
            })
        })
        .collect();
    d.page(
        &op,
        "now",
        "now.html.j2",
        json!({
            "title": text(nl, "now_title"),
            "store_ok": status.store.connected,
            "store_backend": status.store.backend,
            "quarantined": status.quarantined,
            "schools": schools,
            "dead": dead.iter().take(LISTED as usize).map(|r| notice(r, &config, &dir, nl)).collect::<Vec<_>>(),
            "dead_more": dead.len() > LISTED as usize,
            "quarantine": quarantine,
            "quarantine_more": quarantined.len() > LISTED as usize,
            "names": config.schools.keys().map(|k| (k.clone(), school_name(&config, k))).collect::<std::collections::BTreeMap<_, _>>(),
        }),
    )
}

/// The form's CSRF token, then its operate token: the caller to record the action under,
/// or the refusal.
pub async fn authorize(d: &Dash, op: &Operator, f: &Fields) -> Result<Caller, Response> {
    if !session::csrf_ok(&op.session, form::field(f, "csrf")) {
        return Err(refused_form(op));
    }
    let nl = op.nl();
    let now = Instant::now();
    if !d.failures.allowed(&op.v.address, now) {
        return Err(message(
            &op.v,
            Some(&op.session),
            StatusCode::TOO_MANY_REQUESTS,
            "action_refused",
            text(nl, "too_many").into(),
            Some("/now"),
        ));
    }
    let token = form::field(f, "operate_token").unwrap_or("").trim();
    match d
        .tokens
        .check(Some(&format!("Bearer {token}")), Level::Operate)
    {
        Ok(c) => Ok(c),
        Err(refusal) => {
            let key = if refusal == Refusal::Forbidden {
                "needs_operate"
            } else {
                d.failures.failed(&op.v.address, now);
                "wrong_operate"
            };
            tracing::info!(refusal = ?refusal, "dashboard: action refused");
            Err(message(
                &op.v,
                Some(&op.session),
                StatusCode::FORBIDDEN,
                "action_refused",
                text(nl, key).into(),
                form::field(f, "back").or(Some("/now")),
            ))
        }
    }
}

/// The selected ids of a form (`id`, repeated, and the typed `notice_id`).
fn ids(f: &Fields) -> Result<Vec<i64>, ()> {
    let mut out = Vec::new();
    for v in form::all(f, "id")
        .into_iter()
        .chain(form::field(f, "notice_id"))
    {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        out.push(v.parse::<i64>().map_err(|_| ())?);
    }
    out.sort_unstable();
    out.dedup();
    if out.len() > MAX_IDS {
        return Err(());
    }
    Ok(out)
}

fn bad_request(op: &Operator) -> Response {
    message(
        &op.v,
        Some(&op.session),
        StatusCode::BAD_REQUEST,
        "action_refused",
        text(op.nl(), "bad_request").into(),
        Some("/now"),
    )
}

/// After an action: the outcome as the next page's message, and back to where it came from.
fn done(d: &Dash, op: &Operator, f: &Fields, lines: Vec<String>, error: bool) -> Response {
    d.sessions.flash(&op.id, lines.join(" "), error);
    redirect(&local_path(form::field(f, "back"), "/now"), None)
}

/// The form of an action on selected items: parsed, its tokens checked, at least one id.
async fn selected(
    d: &Dash,
    op: &Operator,
    body: &Bytes,
) -> Result<(Fields, Caller, Vec<i64>), Response> {
    let Ok(f) = form::parse(body, ACTION_FIELDS, 1024) else {
        return Err(bad_request(op));
    };
    let caller = authorize(d, op, &f).await?;
    let Ok(ids) = ids(&f) else {
        return Err(bad_request(op));
    };
    if ids.is_empty() {
        let none = vec![text(op.nl(), "none_selected").into()];
        return Err(done(d, op, &f, none, true));
    }
    Ok((f, caller, ids))
}

/// After an action on each selected item: what was done (under `done_key`) and what failed.
fn outcome(
    d: &Dash,
    op: &Operator,
    f: &Fields,
    done_key: &str,
    ok: &[String],
    failed: &[String],
) -> Response {
    let nl = op.nl();
    let mut lines = Vec::new();
    if !ok.is_empty() {
        lines.push(format!("{} {}.", text(nl, done_key), ok.join(", ")));
    }
    if !failed.is_empty() {
        lines.push(format!("{} {}.", text(nl, "failed"), failed.join("; ")));
    }
    done(d, op, f, lines, !failed.is_empty())
}

const ACTION_FIELDS: &[&str] = &[
    "csrf",
    "operate_token",
    "id",
    "notice_id",
    "scope",
    "do",
    "override_blackout",
    "back",
];

/// `POST /now/dead`: resend the selected failed notices, or all of them.
pub async fn resend(State(d): State<Dash>, op: Operator, body: Bytes) -> Response {
    let Ok(f) = form::parse(&body, ACTION_FIELDS, 1024) else {
        return bad_request(&op);
    };
    let caller = match authorize(&d, &op, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let nl = op.nl();
    let req = if form::field(&f, "scope") == Some("all") {
        ResendRequest {
            all: true,
            ..ResendRequest::default()
        }
    } else {
        match ids(&f) {
            Ok(ids) if ids.is_empty() => {
                return done(&d, &op, &f, vec![text(nl, "none_selected").into()], true)
            }
            Ok(ids) => ResendRequest {
                ids: Some(ids),
                ..ResendRequest::default()
            },
            Err(()) => return bad_request(&op),
        }
    };
    match actions::resend(&d.admin, &caller, &req).await {
        Ok(r) => done(
            &d,
            &op,
            &f,
            vec![format!("{} {}", text(nl, "resent"), r.resent)],
            false,
        ),
        Err(e) => done(
            &d,
            &op,
            &f,
            vec![format!("{} {}", text(nl, "failed"), e.message)],
            true,
        ),
    }
}

/// `POST /now/quarantine`: replay or discard the selected quarantined inputs.
pub async fn quarantine(State(d): State<Dash>, op: Operator, body: Bytes) -> Response {
    let (f, caller, ids) = match selected(&d, &op, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let replay = match form::field(&f, "do") {
        Some("replay") => true,
        Some("discard") => false,
        _ => return bad_request(&op),
    };
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        let r = if replay {
            actions::replay(&d.admin, &caller, id)
                .await
                .map(|r| format!("{id} ({} {})", r.event, r.status))
        } else {
            actions::discard(&d.admin, &caller, id)
                .await
                .map(|_| id.to_string())
        };
        match r {
            Ok(s) => ok.push(s),
            Err(e) => failed.push(format!("{id}: {}", e.message)),
        }
    }
    let k = if replay { "replayed" } else { "discarded" };
    outcome(&d, &op, &f, k, &ok, &failed)
}

/// `POST /notices`: cancel or release now the selected pending notices.
pub async fn notices(State(d): State<Dash>, op: Operator, body: Bytes) -> Response {
    let (f, caller, ids) = match selected(&d, &op, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let nl = op.nl();
    let cancel = match form::field(&f, "do") {
        Some("cancel") => true,
        Some("release") => false,
        _ => return bad_request(&op),
    };
    let override_blackout = form::field(&f, "override_blackout").is_some();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        let r = if cancel {
            actions::cancel(&d.admin, &caller, id).await
        } else {
            actions::release(&d.admin, &caller, id, override_blackout).await
        };
        match r {
            Ok(n) if cancel => ok.push(n.id.to_string()),
            Ok(n) => ok.push(format!(
                "{} → {}",
                n.id,
                pretty(&n.due_at, zone_of(&d, &n.school), nl)
            )),
            Err(e) => failed.push(format!("{id}: {}", e.message)),
        }
    }
    let k = if cancel { "cancelled" } else { "released" };
    outcome(&d, &op, &f, k, &ok, &failed)
}

fn zone_of(d: &Dash, school: &str) -> chrono_tz::Tz {
    crate::admin::api::zone(&d.admin.shared.config(), school)
}
