//! The actions (operate token). Each one is written to the audit trail with the token's name,
//! the target and the state before and after, once it took effect.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::api::{local, zone, ApiError, ApiResult, NoticeView};
use super::{AdminState, Caller, Routes};
use crate::policy::{Reason, Rule};
use crate::store::admin::{Changed, NoticeRow};
use crate::store::audit::AuditEntry;

pub fn routes() -> Routes {
    Routes::default().operate(
        OpenApiRouter::new()
            .routes(utoipa_axum::routes!(resend_dead))
            .routes(utoipa_axum::routes!(replay_quarantined))
            .routes(utoipa_axum::routes!(discard_quarantined))
            .routes(utoipa_axum::routes!(cancel_notice))
            .routes(utoipa_axum::routes!(release_notice))
            .routes(utoipa_axum::routes!(put_directory))
            .routes(utoipa_axum::routes!(reload_config))
            .routes(utoipa_axum::routes!(erase_student)),
    )
}

/// Writes one audit entry; an action that took effect but could not be audited is an error
/// the operator sees.
async fn audit(
    state: &AdminState,
    caller: &Caller,
    action: &str,
    target: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let entry = AuditEntry::new(state.clock.now(), caller.actor(), action, target);
    state
        .store
        .audit()
        .append(&entry.change(before, after))
        .await?;
    Ok(())
}

/// Which dead notices to put back: exactly one of the three.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// These notices (those that are dead).
    pub ids: Option<Vec<i64>>,
    /// Every dead notice of this event.
    pub event: Option<String>,
    /// Every dead notice.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Resent {
    /// Notices put back to pending, due now.
    pub resent: u64,
}

/// Puts dead notices back to pending, due now, with a fresh attempt count.
#[utoipa::path(post, path = "/v1/dead/resend", tag = "actions",
    request_body = ResendRequest,
    responses((status = 200, description = "the notices put back", body = Resent), (status = 400, description = "a malformed query or body", body = super::api::ErrorBody)))]
async fn resend_dead(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<ResendRequest>,
) -> ApiResult<Resent> {
    Ok(Json(resend(&state, &caller, &req).await?))
}

/// `POST /v1/dead/resend` (and the dashboard's form): puts dead notices back, audited.
pub async fn resend(
    state: &AdminState,
    caller: &Caller,
    req: &ResendRequest,
) -> Result<Resent, ApiError> {
    let now = state.clock.now();
    let given =
        usize::from(req.ids.is_some()) + usize::from(req.event.is_some()) + usize::from(req.all);
    if given != 1 {
        return Err(ApiError::bad_request(
            "give exactly one of ids, event or all = true",
        ));
    }
    let (resent, target, ids) = if let Some(ids) = &req.ids {
        if ids.is_empty() || ids.len() > 10_000 {
            return Err(ApiError::bad_request("ids: give 1 to 10000 notice ids"));
        }
        let done = state.store.views().resend_ids(ids, now).await?;
        let target = format!("notices:{}", ids_list(ids));
        (done.len() as u64, target, Some(done))
    } else if let Some(event) = &req.event {
        let n = state.store.resend_dead(Some(event), now).await?;
        (n, format!("event:{event}"), None)
    } else {
        let n = state.store.resend_dead(None, now).await?;
        (n, "dead:all".to_string(), None)
    };
    state.shared.wake.notify_one();
    let after = json!({ "notices": resent, "ids": ids });
    audit(state, caller, "notices.resend", target, None, Some(after)).await?;
    Ok(Resent { resent })
}

/// `1,2,3`, or the first ids and a count for a long list.
fn ids_list(ids: &[i64]) -> String {
    let shown: Vec<String> = ids.iter().take(20).map(i64::to_string).collect();
    if ids.len() > 20 {
        format!("{} (+{} more)", shown.join(","), ids.len() - 20)
    } else {
        shown.join(",")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// `accepted`; `duplicate` when the same event was stored before; `conflict` when an
    /// event with its id but other content was (then it is back in quarantine as such).
    pub status: String,
    pub event: String,
}

/// Feeds a quarantined input through normal ingest again (after the directory or config was
/// fixed); once accepted it leaves the quarantine. Still unreadable: 422 with the reason,
/// and it stays.
#[utoipa::path(post, path = "/v1/quarantine/{id}/replay", tag = "actions",
    params(("id" = i64, Path, description = "the item's id")),
    responses((status = 200, description = "the item went through ingest", body = Replayed), (status = 404, description = "no such item", body = super::api::ErrorBody),
              (status = 422, description = "refused, with every reason", body = super::api::ErrorBody)))]
async fn replay_quarantined(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Replayed> {
    Ok(Json(replay(&state, &caller, id).await?))
}

/// `POST /v1/quarantine/{id}/replay` (and the dashboard's form), audited.
pub async fn replay(state: &AdminState, caller: &Caller, id: i64) -> Result<Replayed, ApiError> {
    let Some(ingestor) = state.ingestor.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "replay needs the running daemon",
        ));
    };
    let item = state.store.views().quarantine_item(id).await?;
    let item = item.ok_or_else(|| ApiError::not_found(format!("no quarantined item {id}")))?;
    if item.truncated() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "only the first bytes of this {}-byte input were kept ([quarantine] keep_bytes): \
                 send it again from its source",
                item.bytes
            ),
        ));
    }
    if item.kind == "conflict" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "an event with this id is stored with other content: replaying changes nothing; \
             discard it, or have the source send the change under a new id",
        ));
    }
    let raw = item.raw.clone().unwrap_or_default();
    let now = state.clock.now();
    // Checked first, as ingest would: a refusal leaves it where it is instead of
    // quarantining a second copy.
    let config = state.shared.config();
    let event = crate::model::Event::parse(&raw)
        .and_then(|e| crate::ingest::check_school(&config, e))
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("still not accepted: {e}"),
            )
        })?;
    let event_id = event.id.clone();
    let result = ingestor
        .ingest_parsed(&[&raw], vec![Ok(event)], "replay", now)
        .await?;
    let status = match result.first() {
        Some(crate::ingest::Accepted::Duplicate { .. }) => "duplicate",
        // Kept in quarantine again, as a conflict (a new item).
        Some(crate::ingest::Accepted::Conflict { .. }) => "conflict",
        _ => "accepted",
    };
    // After the event is committed: a crash in between leaves a duplicate to discard.
    state.store.views().discard_quarantined(id).await?;
    let before = json!({ "source": item.source, "reason": item.reason, "bytes": item.bytes });
    let after = json!({ "status": status, "event": event_id });
    audit(
        state,
        caller,
        "quarantine.replay",
        format!("quarantine:{id}"),
        Some(before),
        Some(after),
    )
    .await?;
    Ok(Replayed {
        status: status.into(),
        event: event_id,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Discarded {
    pub discarded: i64,
}

/// Deletes a quarantined input for good.
#[utoipa::path(delete, path = "/v1/quarantine/{id}", tag = "actions",
    params(("id" = i64, Path, description = "the item's id")),
    responses((status = 200, description = "the item is gone", body = Discarded), (status = 404, description = "no such item", body = super::api::ErrorBody)))]
async fn discard_quarantined(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Discarded> {
    Ok(Json(discard(&state, &caller, id).await?))
}

/// `DELETE /v1/quarantine/{id}` (and the dashboard's form), audited.
pub async fn discard(state: &AdminState, caller: &Caller, id: i64) -> Result<Discarded, ApiError> {
    let item = state.store.views().quarantine_item(id).await?;
    let item = item.ok_or_else(|| ApiError::not_found(format!("no quarantined item {id}")))?;
    if !state.store.views().discard_quarantined(id).await? {
        return Err(ApiError::not_found(format!("no quarantined item {id}")));
    }
    let before = json!({
        "source": item.source,
        "reason": item.reason,
        "bytes": item.bytes,
        "received_at": item.received_at.to_rfc3339(),
    });
    audit(
        state,
        caller,
        "quarantine.discard",
        format!("quarantine:{id}"),
        Some(before),
        None,
    )
    .await?;
    Ok(Discarded { discarded: id })
}

/// A notice's state and due time for the audit trail (no content).
fn snapshot(row: &NoticeRow) -> serde_json::Value {
    json!({ "state": row.notice.state, "due_at": row.notice.due_at.to_rfc3339() })
}

fn changed(
    state: &AdminState,
    id: i64,
    c: Changed,
    verb: &str,
) -> Result<(NoticeRow, NoticeRow), ApiError> {
    match c {
        Changed::Done(before, after) => Ok((*before, *after)),
        Changed::NotFound => Err(ApiError::not_found(format!("no notice {id}"))),
        Changed::Refused(now) => {
            let config = state.shared.config();
            let tz = zone(&config, &now.notice.school);
            Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "notice {id} is {} (due {}): only a pending notice can be {verb}",
                    now.notice.state,
                    local(now.notice.due_at, tz)
                ),
            ))
        }
    }
}

/// Cancels a pending notice: it is never sent, and stays (as `cancelled`) so that a re-plan
/// does not bring it back.
#[utoipa::path(post, path = "/v1/notices/{id}/cancel", tag = "actions",
    params(("id" = i64, Path, description = "the notice's id")),
    responses((status = 200, description = "the notice", body = NoticeView), (status = 404, description = "no such item", body = super::api::ErrorBody),
              (status = 409, description = "not in a state that allows it (or changed meanwhile)", body = super::api::ErrorBody)))]
async fn cancel_notice(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<NoticeView> {
    Ok(Json(cancel(&state, &caller, id).await?))
}

/// `POST /v1/notices/{id}/cancel` (and the dashboard's form), audited.
pub async fn cancel(state: &AdminState, caller: &Caller, id: i64) -> Result<NoticeView, ApiError> {
    let now = state.clock.now();
    let Some(row) = state.store.views().notice(id).await? else {
        return Err(ApiError::not_found(format!("no notice {id}")));
    };
    let reason = Reason::moved(
        Rule::Cancelled,
        row.notice.due_at,
        row.notice.due_at,
        format!("at {}", now.to_rfc3339()),
    );
    let c = state.store.views().cancel_notice(id, reason).await?;
    let (before, after) = changed(state, id, c, "cancelled")?;
    audit(
        state,
        caller,
        "notices.cancel",
        format!("notice:{id}"),
        Some(snapshot(&before)),
        Some(snapshot(&after)),
    )
    .await?;
    Ok(NoticeView::new(&after, &state.shared.config()))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    /// Release even inside quiet hours, the weekend or a holiday (recorded in the audit).
    #[serde(default)]
    pub override_blackout: bool,
}

/// Releases a pending notice now: due at once, or, inside quiet hours, the weekend or a
/// holiday, at their end (unless `override_blackout=true`).
#[utoipa::path(post, path = "/v1/notices/{id}/release", tag = "actions",
    params(("id" = i64, Path, description = "the notice's id"), ReleaseQuery),
    responses((status = 200, description = "the notice", body = NoticeView), (status = 404, description = "no such item", body = super::api::ErrorBody),
              (status = 409, description = "not in a state that allows it (or changed meanwhile)", body = super::api::ErrorBody)))]
async fn release_notice(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<ReleaseQuery>,
) -> ApiResult<NoticeView> {
    Ok(Json(
        release(&state, &caller, id, q.override_blackout).await?,
    ))
}

/// `POST /v1/notices/{id}/release` (and the dashboard's form), audited.
pub async fn release(
    state: &AdminState,
    caller: &Caller,
    id: i64,
    override_blackout: bool,
) -> Result<NoticeView, ApiError> {
    let now = state.clock.now();
    let config = state.shared.config();
    let Some(row) = state.store.views().notice(id).await? else {
        return Err(ApiError::not_found(format!("no notice {id}")));
    };
    let n = &row.notice;
    let tz = zone(&config, &n.school);
    let due = if override_blackout {
        now
    } else {
        match config.policy(&n.school) {
            Some(p) => p
                .calendar
                .next_allowed(now, &mut Vec::new())
                .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.why))?,
            None => now,
        }
    };
    if due >= n.due_at {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "notice {id} is due {} already: releasing now would not make it sooner{}",
                local(n.due_at, tz),
                if override_blackout {
                    ""
                } else {
                    " (quiet hours, weekend and holidays still hold; override_blackout=true to \
                     release inside them)"
                }
            ),
        ));
    }
    let detail = if override_blackout {
        "blackout overridden"
    } else {
        ""
    };
    let reason = Reason::moved(Rule::Released, n.due_at, due, detail);
    let c = state.store.views().release_notice(id, reason).await?;
    let (before, after) = changed(state, id, c, "released")?;
    state.shared.wake.notify_one();
    let mut after_json = snapshot(&after);
    after_json["override_blackout"] = override_blackout.into();
    audit(
        state,
        caller,
        "notices.release",
        format!("notice:{id}"),
        Some(snapshot(&before)),
        Some(after_json),
    )
    .await?;
    Ok(NoticeView::new(&after, &config))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryImported {
    pub students: usize,
    /// Records whose pending notices were planned again under the new directory.
    pub replanned: usize,
}

/// Replaces the directory (DESIGN.md schema, the same checks as `rustig import-directory`)
/// and plans pending notices again with it at once. Refused (409) when the config names a
/// `[directory] file`, which would win at the next reload.
#[utoipa::path(put, path = "/v1/directory", tag = "actions",
    request_body(content = serde_json::Value, description = "the directory (DESIGN.md)",
                 content_type = "application/json"),
    responses((status = 200, description = "the directory in force", body = DirectoryImported),
              (status = 409, description = "not in a state that allows it (or changed meanwhile)", body = super::api::ErrorBody),
              (status = 422, description = "refused, with every reason", body = super::api::ErrorBody)))]
async fn put_directory(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<DirectoryImported> {
    let Some(reloader) = state.reloader.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "importing needs the running daemon",
        ));
    };
    let config = state.shared.config();
    if let Some(file) = &config.directory_file {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the config names [directory] file = {:?}, which replaces an import at the next \
                 reload: change that file instead",
                file.display().to_string()
            ),
        ));
    }
    let dir = crate::model::Directory::parse(&body).map_err(|e| match e {
        crate::model::directory::DirectoryError::Problems(problems) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the directory has {} problem(s)", problems.len()),
        )
        .with_details(problems.iter().map(|p| p.to_string()).collect()),
        e => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    })?;
    let students = dir.len();
    let now = state.clock.now();
    let replanned = reloader
        .apply_directory(dir, now)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let after = json!({ "students": students, "replanned": replanned });
    audit(
        &state,
        &caller,
        "directory.import",
        "directory".into(),
        None,
        Some(after),
    )
    .await?;
    Ok(Json(DirectoryImported {
        students,
        replanned,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    /// SHA-256 of the config now in force.
    pub sha256: String,
    /// Records whose pending notices were planned again.
    pub replanned: usize,
}

/// Reads the config file again, as `SIGHUP` does, and plans every pending notice under it.
/// A config with errors is refused (422, every error with file, line and key) and the old one
/// stays in force.
#[utoipa::path(post, path = "/v1/reload", tag = "actions",
    responses((status = 200, description = "the config in force", body = Reloaded), (status = 422, description = "refused, with every reason", body = super::api::ErrorBody)))]
async fn reload_config(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Reloaded> {
    let Some(reloader) = state.reloader.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reloading needs the running daemon",
        ));
    };
    let before = json!({ "sha256": state.shared.config().sha256 });
    let now = state.clock.now();
    match reloader.reload_file(now).await {
        Ok(replanned) => {
            let sha256 = state.shared.config().sha256.clone();
            let after = json!({ "sha256": sha256, "replanned": replanned });
            audit(
                &state,
                &caller,
                "config.reload",
                "config".into(),
                Some(before),
                Some(after),
            )
            .await?;
            Ok(Json(Reloaded { sha256, replanned }))
        }
        Err(e) => {
            let lines: Vec<String> = e.to_string().lines().map(str::to_string).collect();
            let after = json!({ "refused": lines.len() });
            audit(
                &state,
                &caller,
                "config.reload",
                "config".into(),
                Some(before),
                Some(after),
            )
            .await?;
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the config was not reloaded; the old one stays in force",
            )
            .with_details(lines))
        }
    }
}

/// What an erasure removed (counts only).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasedView {
    pub student: String,
    pub events: u64,
    pub notices: u64,
    pub quarantine: u64,
    pub gone_contacts: u64,
    /// Still listed in the directory: the next import or SIS poll brings the student back
    /// unless the school removes them there too.
    pub still_in_directory: bool,
}

/// Erases one student's data on request (AVG): their events, every notice about them in any
/// state, quarantined input naming them, gone marks; written to the audit trail as
/// `student.erase` (`rustig erase` does the same from the command line).
#[utoipa::path(delete, path = "/v1/students/{id}", tag = "actions",
    params(("id" = String, Path, description = "the student's id")),
    responses((status = 200, description = "what was erased", body = ErasedView)))]
async fn erase_student(
    State(state): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<ErasedView> {
    let now = state.clock.now();
    let erased = crate::retention::erase_student(&*state.store, &id, &caller.actor(), now).await?;
    let still_in_directory = (state.shared.directory().data().students.iter()).any(|s| s.id == id);
    Ok(Json(ErasedView {
        student: id,
        events: erased.events,
        notices: erased.notices,
        quarantine: erased.quarantine,
        gone_contacts: erased.gone_contacts,
        still_in_directory,
    }))
}
