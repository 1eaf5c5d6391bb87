//! What every admin handler shares: errors as JSON, keyset pages, instants in the school's
//! local time, and the notice as the API shows it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::config::Config;
use crate::store::admin::NoticeRow;
use crate::store::StoreError;

/// Items per page when `limit` is not given, and the most one page holds.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// An error answer: `{"error": "…"}` with a status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// More detail (e.g. every problem of a directory), when there is some.
    pub details: Vec<String>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: vec![],
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    pub fn bad_request(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, what)
    }

    pub fn with_details(mut self, details: Vec<String>) -> ApiError {
        self.details = details;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "admin API: the store failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store did not answer; try again / de opslag antwoordde niet; probeer het opnieuw",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// `?limit=&after=`: at most `limit` items with an id above `after`, by id.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `next_after` of the previous page.
    pub after: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit = {n}: must be between 1 and {MAX_LIMIT}"
            ))),
        }
    }
}

/// The cursor for the next page: the last id when the page is full.
pub fn next_after(
    ids: impl DoubleEndedIterator<Item = i64> + ExactSizeIterator,
    limit: u32,
) -> Option<i64> {
    let full = ids.len() == limit as usize;
    ids.last().filter(|_| full)
}

/// A school's zone (UTC for a school the config does not know).
pub fn zone(config: &Config, school: &str) -> Tz {
    config
        .policy(school)
        .map(|p| p.calendar.tz)
        .unwrap_or(chrono_tz::UTC)
}

/// RFC 3339 in the school's zone, with its offset: `2026-11-23T11:05:00+01:00`.
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A duration in humantime form, to the second: `2h 3m 10s`.
pub fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// A notice as the API lists it; instants in the school's local time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: i64,
    pub school: String,
    pub record: String,
    pub event: String,
    pub student: String,
    pub recipient: String,
    /// `student` or `guardian`.
    pub role: String,
    /// `email`, `webpush`, `fcm`, `ntfy` or `webhook`.
    pub channel: String,
    /// `grade`, `absence`, `correction` or `withdrawal`.
    pub kind: String,
    /// `pending`, `claimed`, `sent`, `dead` or `cancelled`.
    pub state: String,
    pub due_at: String,
    pub sent_at: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Why it is due when it is, step by step, as `rustig explain` says it.
    pub explain: Vec<String>,
}

impl NoticeView {
    pub fn new(row: &NoticeRow, config: &Config) -> NoticeView {
        let n = &row.notice;
        let tz = zone(config, &n.school);
        NoticeView {
            id: n.id,
            school: n.school.clone(),
            record: n.record.clone(),
            event: n.event_id.clone(),
            student: n.student.clone(),
            recipient: n.recipient.clone(),
            role: n.role.as_str().into(),
            channel: n.channel.as_str().into(),
            kind: n.kind.as_str().into(),
            state: n.state.clone(),
            due_at: local(n.due_at, tz),
            sent_at: row.sent_at.map(|t| local(t, tz)),
            attempts: n.attempts,
            last_error: n.last_error.clone(),
            explain: n
                .reasons
                .iter()
                .map(|r| crate::policy::explain::describe(r, tz))
                .collect(),
        }
    }
}

/// One page of notices.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticePage {
    pub items: Vec<NoticeView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

impl NoticePage {
    pub fn new(rows: &[NoticeRow], config: &Config, limit: u32) -> NoticePage {
        NoticePage {
            items: rows.iter().map(|r| NoticeView::new(r, config)).collect(),
            next_after: next_after(rows.iter().map(|r| r.notice.id), limit),
        }
    }
}
