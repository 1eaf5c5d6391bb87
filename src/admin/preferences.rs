//! The school's side of the families' choices, for the admin listener (`src/admin/`):
//!
//! - `GET  /v1/preferences/{school}/{person}`: a mentor sees what the person chose and what
//!   it means (the version to override from).
//! - `PUT  /v1/preferences/{school}/{person}`: a mentor overrides a choice, with a reason;
//!   the same rules and floors hold as on the family's page. Audited as
//!   `preferences.override` by `admin:<token name>`.
//! - `POST /v1/preferences/{school}/{person}/revoke-links`: every link sent so far stops
//!   working (a lost phone, a shared mailbox); the next message brings a new one.
//! - `GET  /v1/people/{school}/{person}/export`: the AVG right of access: the directory
//!   entry, the stored choices, every notice addressed to the person and the audit entries
//!   about them. The export itself is audited (`people.export`).
//!
//! The admin listener authenticates the request (views: read token; the rest: operate
//! token, as they change a choice or hand out a person's data) and names the caller for the
//! audit trail. Without `[preferences]` these routes answer `404`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use utoipa_axum::router::OpenApiRouter;

use super::{AdminState, Caller, Routes};
use crate::model::directory::channels;
use crate::model::preference::Choice;
use crate::model::Role;
use crate::policy::preference::{self as rules, Chooser};
use crate::prefs::{Change, Prefs};
use crate::store::audit::{AuditEntry, AuditFilter};

pub fn routes() -> Routes {
    Routes::default()
        .read(OpenApiRouter::new().routes(utoipa_axum::routes!(view)))
        .operate(
            OpenApiRouter::new()
                .routes(utoipa_axum::routes!(override_choice))
                .routes(utoipa_axum::routes!(revoke_links))
                .routes(utoipa_axum::routes!(export)),
        )
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The preference page's state, or the answer when `[preferences]` is not configured.
#[allow(clippy::result_large_err)]
fn prefs(state: &AdminState) -> Result<std::sync::Arc<Prefs>, Response> {
    state.prefs.clone().ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no preference page: [preferences] is not configured",
        )
    })
}

/// The person's role in the directory, if they are in it.
fn role_of(
    p: &Prefs,
    school: &str,
    person: &str,
) -> Option<(Role, Vec<crate::model::ChannelKind>, u32)> {
    let dir = p.ingestor.shared().listed_directory();
    let config = p.ingestor.shared().config();
    let policy = config.policy(school)?;
    let today = p.now().with_timezone(&policy.calendar.tz).date_naive();
    if let Some(s) = dir.student(school, person) {
        return Some((Role::Student, channels(&s.contacts), s.age_on(today)));
    }
    dir.students_of(school, person)
        .iter()
        .find_map(|s| s.guardians.iter().find(|g| g.id == person))
        .map(|g| (Role::Guardian, channels(&g.contacts), 0))
}

/// What a person chose and what it means, with the version to override from.
#[utoipa::path(get, path = "/v1/preferences/{school}/{person}", tag = "preferences",
    params(("school" = String, Path), ("person" = String, Path)),
    responses((status = 200, description = "the person's choice"), (status = 404, description = "no such person, or no `[preferences]` configured")))]
async fn view(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path((school, person)): Path<(String, String)>,
) -> Response {
    let p = match prefs(&state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let _ = caller;
    let Some((role, chans, age)) = role_of(&p, &school, &person) else {
        return error(StatusCode::NOT_FOUND, "no such person in the directory");
    };
    let stored = match p.store.preferences().choice(&school, &person).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let config = p.ingestor.shared().config();
    let may_share = role == Role::Student
        && config
            .policy(&school)
            .is_some_and(|pol| rules::student_may_share(age, &pol.consent));
    Json(json!({
        "school": school,
        "person": person,
        "role": role,
        "channels": chans,
        "choice": stored.as_ref().map(|s| &s.choice),
        "version": stored.as_ref().map(|s| s.version).unwrap_or(0),
        "links_from": stored.as_ref().and_then(|s| s.links_from),
        "student_may_choose_sharing": may_share,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    choice: Choice,
    /// Why the mentor changes it (kept in the audit trail).
    reason: String,
    /// The version the mentor saw (`GET`); a stale one gets `409`.
    version: i64,
}

/// A mentor overrides a choice (`{"choice", "reason", "version"}`); same floors as the page.
#[utoipa::path(put, path = "/v1/preferences/{school}/{person}", tag = "preferences",
    params(("school" = String, Path), ("person" = String, Path)),
    responses((status = 200, description = "the new version"), (status = 404, description = "no such person, or no `[preferences]` configured"), (status = 409, description = "changed since that version"),
              (status = 422, description = "a floor or rule refuses it")))]
async fn override_choice(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path((school, person)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let p = match prefs(&state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let actor = caller.actor();
    let o: Override = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    if o.reason.trim().is_empty() || o.reason.len() > 1000 {
        return error(StatusCode::BAD_REQUEST, "reason: say why (1 to 1000 bytes)");
    }
    let Some((role, chans, age)) = role_of(&p, &school, &person) else {
        return error(StatusCode::NOT_FOUND, "no such person in the directory");
    };
    let config = p.ingestor.shared().config();
    let Some(policy) = config.policy(&school) else {
        return error(StatusCode::NOT_FOUND, "no such school");
    };
    let today = p.now().with_timezone(&policy.calendar.tz).date_naive();
    let who = Chooser {
        role,
        age,
        channels: &chans,
    };
    if let Err(refusals) = rules::validate(&who, &o.choice, policy, today) {
        let why: Vec<String> = refusals.iter().map(|r| r.text(false)).collect();
        return error(StatusCode::UNPROCESSABLE_ENTITY, why.join(" "));
    }
    let links_from = match p.store.preferences().choice(&school, &person).await {
        Ok(s) => s.and_then(|s| s.links_from),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let change = Change {
        school,
        person,
        role,
        choice: o.choice,
        links_from,
        expected: o.version,
        actor,
        action: "preferences.override".into(),
        reason: Some(o.reason),
    };
    match p.change(change).await {
        Ok(Some(v)) => Json(json!({"version": v})).into_response(),
        Ok(None) => error(
            StatusCode::CONFLICT,
            "the choice changed since that version",
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    reason: String,
}

/// Every link sent so far stops working (`{"reason"}`); the next message brings a new one.
#[utoipa::path(post, path = "/v1/preferences/{school}/{person}/revoke-links", tag = "preferences",
    params(("school" = String, Path), ("person" = String, Path)),
    responses((status = 200, description = "links signed before `links_from` are refused"),
              (status = 404, description = "no such person, or no `[preferences]` configured")))]
async fn revoke_links(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path((school, person)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let p = match prefs(&state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let actor = caller.actor();
    let r: Revoke = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let Some((role, _, _)) = role_of(&p, &school, &person) else {
        return error(StatusCode::NOT_FOUND, "no such person in the directory");
    };
    for _ in 0..3 {
        let stored = match p.store.preferences().choice(&school, &person).await {
            Ok(s) => s,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        // Links signed in this very second are revoked too.
        let from = p.now().timestamp() + 1;
        let change = Change {
            school: school.clone(),
            person: person.clone(),
            role,
            choice: stored
                .as_ref()
                .map(|s| s.choice.clone())
                .unwrap_or_default(),
            links_from: Some(from),
            expected: stored.as_ref().map(|s| s.version).unwrap_or(0),
            actor: actor.clone(),
            action: "preferences.revoke_links".into(),
            reason: Some(r.reason.clone()),
        };
        match p.change(change).await {
            Ok(Some(_)) => return Json(json!({"links_from": from})).into_response(),
            Ok(None) => continue,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
    error(StatusCode::CONFLICT, "the choice kept changing; try again")
}

/// The AVG right of access: everything rustig stores about the person (audited).
#[utoipa::path(get, path = "/v1/people/{school}/{person}/export", tag = "preferences",
    params(("school" = String, Path), ("person" = String, Path)),
    responses((status = 200, description = "the person's data"), (status = 404, description = "no such person, or no `[preferences]` configured")))]
async fn export(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path((school, person)): Path<(String, String)>,
) -> Response {
    let p = match prefs(&state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let actor = caller.actor();
    let Some((role, _, _)) = role_of(&p, &school, &person) else {
        return error(StatusCode::NOT_FOUND, "no such person in the directory");
    };
    let dir = p.ingestor.shared().listed_directory();
    let entry = match role {
        Role::Student => dir.student(&school, &person).map(|s| {
            let mut v = serde_json::to_value(s).expect("student serializes");
            // The student's own entry; guardians are other people.
            if let Some(o) = v.as_object_mut() {
                o.remove("guardians");
            }
            v
        }),
        Role::Guardian => dir
            .students_of(&school, &person)
            .iter()
            .find_map(|s| s.guardians.iter().find(|g| g.id == person))
            .map(|g| serde_json::to_value(g).expect("guardian serializes")),
    };
    let prefs = p.store.preferences();
    let (stored, notices) = match (
        prefs.choice(&school, &person).await,
        prefs.notices_of_recipient(&school, &person).await,
    ) {
        (Ok(s), Ok(n)) => (s, n),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let target = format!("{}:{}", role.as_str(), person);
    let filter = AuditFilter {
        target: Some(target.clone()),
        ..AuditFilter::default()
    };
    let mut audit = Vec::new();
    let mut after = None;
    loop {
        match p.store.audit().list(&filter, after, 1000).await {
            Ok(page) if page.is_empty() => break,
            Ok(page) => {
                after = page.last().map(|r| r.id);
                audit.extend(page);
            }
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
    let notices: Vec<_> = notices
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "event_id": n.event_id, "record": n.record, "student": n.student,
                "channel": n.channel, "kind": n.kind, "due_at": n.due_at, "state": n.state,
                "attempts": n.attempts, "reasons": n.reasons,
            })
        })
        .collect();
    let entry_audit = AuditEntry::new(p.now(), actor, "people.export", target);
    if let Err(e) = p.store.audit().append(&entry_audit).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    Json(json!({
        "school": school,
        "person": person,
        "role": role,
        "directory": entry,
        "preferences": stored,
        "notices": notices,
        "audit": audit,
    }))
    .into_response()
}
