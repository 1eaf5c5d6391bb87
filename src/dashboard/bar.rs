//! One bar of the week ahead: the pending notices of a school due in one hour, students by
//! id and class (never a name, never a grade), each with its reason chain; the same form
//! as the student timeline to cancel or release them now.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::page::store_down;
use super::page::{message, Dash, Operator};
use super::texts::text;
use super::view::{notice, school_name, when};
use crate::store::admin::NoticeFilter;

const PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
pub struct BarQuery {
    pub school: String,
    /// The hour's start, seconds since 1970 (as the chart links it).
    pub start: i64,
    pub after: Option<i64>,
}

/// The link to a bar's contents.
pub fn href(school: &str, start: DateTime<Utc>) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("school", school)
        .append_pair("start", &start.timestamp().to_string())
        .finish();
    format!("/week/bar?{q}")
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<BarQuery>) -> Response {
    let nl = op.nl();
    let config = d.admin.shared.config();
    let (Some(_), Some(start)) = (
        config.policy(&q.school),
        DateTime::from_timestamp(q.start, 0),
    ) else {
        return message(
            &op.v,
            Some(&op.session),
            StatusCode::NOT_FOUND,
            "week_title",
            text(nl, "bar_unknown").into(),
            Some("/week"),
        );
    };
    let end = start + Duration::hours(1);
    // As the chart counts: the current hour from now; what is due before is overdue.
    let from = start.max(d.admin.clock.now()).min(end);
    let filter = NoticeFilter {
        school: Some(q.school.clone()),
        state: Some("pending".into()),
        due_from: Some(from),
        due_until: Some(end),
        ..NoticeFilter::default()
    };
    let Ok(rows) = d.admin.store.views().notices(&filter, q.after, PAGE).await else {
        return store_down(&op);
    };
    let dir = d.admin.shared.directory();
    let tz = crate::admin::api::zone(&config, &q.school);
    let next = crate::admin::api::next_after(rows.iter().map(|r| r.notice.id), PAGE);
    d.page(
        &op,
        "week",
        "bar.html.j2",
        json!({
            "title": format!("{} · {}", school_name(&config, &q.school), when(start, tz, nl)),
            "school": q.school,
            "week_href": format!(
                "/week?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("school", &q.school)
                    .finish()
            ),
            "school_name": school_name(&config, &q.school),
            "from": when(start, tz, nl),
            "until": when(end, tz, nl),
            "items": rows.iter().map(|r| notice(r, &config, &dir, nl)).collect::<Vec<_>>(),
            "next_href": next.map(|n| format!("{}&after={n}", href(&q.school, start))),
        }),
    )
}
