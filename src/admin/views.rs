//! The read-only views: notices (filtered, keyset-paginated), one notice with its reasons,
//! an event, a student's timeline, dead notices, quarantine and the audit trail.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::api::{local, next_after, ApiError, ApiResult, NoticePage, NoticeView, PageQuery};
use super::event::EventReport;
use super::{AdminState, Routes};
use crate::model::{ChannelKind, Role};
use crate::store::admin::NoticeFilter;

pub fn routes() -> Routes {
    Routes::default().read(
        OpenApiRouter::new()
            .routes(utoipa_axum::routes!(list_notices))
            .routes(utoipa_axum::routes!(get_notice))
            .routes(utoipa_axum::routes!(get_event))
            .routes(utoipa_axum::routes!(student_timeline))
            .routes(utoipa_axum::routes!(list_dead))
            .routes(utoipa_axum::routes!(list_quarantine))
            .routes(utoipa_axum::routes!(get_quarantined))
            .routes(utoipa_axum::routes!(list_audit)),
    )
}

/// Filters of `GET /v1/notices`; all optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    pub school: Option<String>,
    /// `pending`, `claimed`, `sent`, `dead` or `cancelled`.
    pub state: Option<String>,
    /// `email`, `webpush`, `fcm`, `ntfy` or `webhook`.
    pub channel: Option<String>,
    /// `student` or `guardian`.
    pub role: Option<String>,
    pub recipient: Option<String>,
    pub student: Option<String>,
    pub event: Option<String>,
    /// Due at or after this instant (RFC 3339).
    pub due_from: Option<String>,
    /// Due before this instant (RFC 3339).
    pub due_until: Option<String>,
}

pub const STATES: [&str; 5] = ["pending", "claimed", "sent", "dead", "cancelled"];

impl NoticeQuery {
    pub fn filter(&self) -> Result<NoticeFilter, ApiError> {
        let instant = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|_| {
                            ApiError::bad_request(format!(
                                "{name} = {s:?}: expected an instant like \"2026-11-23T11:05:00+01:00\""
                            ))
                        })
                })
                .transpose()
        };
        if let Some(s) = &self.state {
            if !STATES.contains(&s.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "state = {s:?}: expected one of {}",
                    STATES.join(", ")
                )));
            }
        }
        let channel = self
            .channel
            .as_deref()
            .map(|c| {
                ChannelKind::parse(c).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "channel = {c:?}: expected email, webpush, fcm, ntfy or webhook"
                    ))
                })
            })
            .transpose()?;
        let role = self
            .role
            .as_deref()
            .map(|r| {
                Role::parse(r).ok_or_else(|| {
                    ApiError::bad_request(format!("role = {r:?}: expected student or guardian"))
                })
            })
            .transpose()?;
        Ok(NoticeFilter {
            school: self.school.clone(),
            state: self.state.clone(),
            channel,
            role,
            recipient: self.recipient.clone(),
            student: self.student.clone(),
            event: self.event.clone(),
            due_from: instant("due_from", &self.due_from)?,
            due_until: instant("due_until", &self.due_until)?,
        })
    }
}

async fn notices_page(
    state: &AdminState,
    filter: &NoticeFilter,
    page: PageQuery,
) -> ApiResult<NoticePage> {
    let limit = page.limit()?;
    let rows = state
        .store
        .views()
        .notices(filter, page.after, limit)
        .await?;
    Ok(Json(NoticePage::new(&rows, &state.shared.config(), limit)))
}

/// Notices by id, filtered by school, state, channel, role, recipient, student, event and
/// due window.
#[utoipa::path(get, path = "/v1/notices", tag = "views",
    params(NoticeQuery, PageQuery),
    responses((status = 200, description = "a page of notices", body = NoticePage), (status = 400, description = "a malformed query or body", body = super::api::ErrorBody)))]
async fn list_notices(
    State(state): State<AdminState>,
    Query(q): Query<NoticeQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<NoticePage> {
    notices_page(&state, &q.filter()?, page).await
}

/// One notice with its reason chain.
#[utoipa::path(get, path = "/v1/notices/{id}", tag = "views",
    params(("id" = i64, Path, description = "the notice's id")),
    responses((status = 200, description = "the notice", body = NoticeView), (status = 404, description = "no such item", body = super::api::ErrorBody)))]
async fn get_notice(State(state): State<AdminState>, Path(id): Path<i64>) -> ApiResult<NoticeView> {
    let row = state.store.views().notice(id).await?;
    let row = row.ok_or_else(|| ApiError::not_found(format!("no notice {id}")))?;
    Ok(Json(NoticeView::new(&row, &state.shared.config())))
}

/// An event: its state (planned, superseded by which event, suppressed and why,
/// unresolved) and every notice with its reasons.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "views",
    params(("id" = String, Path, description = "the event's id")),
    responses((status = 200, description = "the event, its state and its notices", body = EventReport), (status = 404, description = "no such item", body = super::api::ErrorBody)))]
async fn get_event(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<EventReport> {
    let config = state.shared.config();
    // The directory the planner sees (the families' choices applied), so a suppression by
    // a choice is explained as such.
    let dir = state.shared.directory();
    let now = state.clock.now();
    match super::event::report(&*state.store, &config, &dir, &id, now).await? {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(
            "no event with this id is stored; input that could not be read is in /v1/quarantine",
        )),
    }
}

/// What was sent to whom about this student, when and on which channel, and what is still
/// waiting: every notice about the student (to them and to their guardians), by id.
#[utoipa::path(get, path = "/v1/students/{id}/timeline", tag = "views",
    params(("id" = String, Path, description = "the student's id"), PageQuery),
    responses((status = 200, description = "a page of notices", body = NoticePage)))]
async fn student_timeline(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<NoticePage> {
    let filter = NoticeFilter {
        student: Some(id),
        ..NoticeFilter::default()
    };
    notices_page(&state, &filter, page).await
}

/// Dead notices (every try failed, or too old), with their last error.
#[utoipa::path(get, path = "/v1/dead", tag = "views",
    params(PageQuery),
    responses((status = 200, description = "a page of notices", body = NoticePage)))]
async fn list_dead(
    State(state): State<AdminState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<NoticePage> {
    let filter = NoticeFilter {
        state: Some("dead".into()),
        ..NoticeFilter::default()
    };
    notices_page(&state, &filter, page).await
}

/// One quarantined input; `raw` only in `GET /v1/quarantine/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantineView {
    pub id: i64,
    pub received_at: String,
    pub source: String,
    /// `rejected` (not a valid event) or `conflict` (an id stored before with other content).
    pub kind: String,
    /// Why it was refused, naming the field.
    pub reason: String,
    /// The size of the whole input.
    pub bytes: i64,
    /// Only the first bytes were kept (`[quarantine] keep_bytes`): it cannot be replayed.
    pub truncated: bool,
    /// What was kept of the input (UTF-8, invalid bytes replaced).
    pub raw: Option<String>,
}

impl QuarantineView {
    fn new(q: crate::store::admin::Quarantined, tz: chrono_tz::Tz) -> QuarantineView {
        QuarantineView {
            id: q.id,
            received_at: local(q.received_at, tz),
            truncated: q.truncated(),
            source: q.source,
            kind: q.kind,
            reason: q.reason,
            bytes: q.bytes,
            raw: q.raw.map(|r| String::from_utf8_lossy(&r).into_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinePage {
    pub items: Vec<QuarantineView>,
    pub next_after: Option<i64>,
}

/// Inputs that could not be accepted, by id.
#[utoipa::path(get, path = "/v1/quarantine", tag = "views",
    params(PageQuery),
    responses((status = 200, description = "a page of quarantined items", body = QuarantinePage)))]
async fn list_quarantine(
    State(state): State<AdminState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<QuarantinePage> {
    let limit = page.limit()?;
    let rows = state.store.views().quarantined(page.after, limit).await?;
    let tz = state.shared.config().default_policy.calendar.tz;
    let next = next_after(rows.iter().map(|q| q.id), limit);
    Ok(Json(QuarantinePage {
        items: rows
            .into_iter()
            .map(|q| QuarantineView::new(q, tz))
            .collect(),
        next_after: next,
    }))
}

/// One quarantined input, with what was received.
#[utoipa::path(get, path = "/v1/quarantine/{id}", tag = "views",
    params(("id" = i64, Path, description = "the item's id")),
    responses((status = 200, description = "the item, with the input kept", body = QuarantineView), (status = 404, description = "no such item", body = super::api::ErrorBody)))]
async fn get_quarantined(
    State(state): State<AdminState>,
    Path(id): Path<i64>,
) -> ApiResult<QuarantineView> {
    let q = state.store.views().quarantine_item(id).await?;
    let q = q.ok_or_else(|| ApiError::not_found(format!("no quarantined item {id}")))?;
    let tz = state.shared.config().default_policy.calendar.tz;
    Ok(Json(QuarantineView::new(q, tz)))
}

/// Filters of `GET /v1/audit`; all optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `admin:<token name>`, `cli:<user>`, …
    pub actor: Option<String>,
    /// An action (`notices.cancel`), or every action under a prefix ending in `.`.
    pub action: Option<String>,
    /// `notice:17`, `event:e-1`, `quarantine:3`, …
    pub target: Option<String>,
    /// At or after this instant (RFC 3339).
    pub since: Option<String>,
    /// Before this instant (RFC 3339).
    pub until: Option<String>,
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_after: Option<i64>,
}

/// The audit trail: operator actions (by token name) and changed choices, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "views",
    params(AuditQuery, PageQuery),
    responses((status = 200, description = "a page of the audit trail", body = AuditPage), (status = 400, description = "a malformed query or body", body = super::api::ErrorBody)))]
async fn list_audit(
    State(state): State<AdminState>,
    Query(q): Query<AuditQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<AuditPage> {
    let limit = page.limit()?;
    let instant = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "{name} = {s:?}: expected an instant like \"2026-11-23T11:05:00+01:00\""
                        ))
                    })
            })
            .transpose()
    };
    let filter = crate::store::audit::AuditFilter {
        actor: q.actor,
        action: q.action,
        target: q.target,
        since: instant("since", &q.since)?,
        until: instant("until", &q.until)?,
    };
    let rows = state.store.audit().list(&filter, page.after, limit).await?;
    let tz = state.shared.config().default_policy.calendar.tz;
    let next = next_after(rows.iter().map(|r| r.id), limit);
    Ok(Json(AuditPage {
        items: rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: local(r.entry.at, tz),
                actor: r.entry.actor,
                action: r.entry.action,
                target: r.entry.target,
                before: r.entry.before,
                after: r.entry.after,
            })
            .collect(),
        next_after: next,
    }))
}
