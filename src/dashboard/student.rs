//! **Student timeline**: every notice about one student (to them and to their guardians),
//! the data of `GET /v1/students/{id}/timeline`: what was sent to whom and when, what waits
//! and why (its reason chain). Looking a student up is written to the audit trail.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::page::store_down;
use super::page::{Dash, Operator};
use super::texts::text;
use super::view::{notice, school_name};
use crate::store::admin::NoticeFilter;

/// Notices per page.
const PAGE: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    pub student: Option<String>,
    pub after: Option<i64>,
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<Search>) -> Response {
    let nl = op.nl();
    let student = q
        .student
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map(str::to_string);
    let mut ctx = json!({
        "title": text(nl, "student_title"),
        "student": student,
    });
    if let Some(id) = &student {
        let config = d.admin.shared.config();
        let dir = d.admin.shared.directory();
        let filter = NoticeFilter {
            student: Some(id.clone()),
            ..NoticeFilter::default()
        };
        let Ok(rows) = d.admin.store.views().notices(&filter, q.after, PAGE).await else {
            return store_down(&op);
        };
        let audited = d
            .audit(
                op.session.caller.actor(),
                "dashboard.student",
                format!("student:{id}"),
                json!({ "notices": rows.len() }),
            )
            .await;
        if !audited {
            return store_down(&op);
        }
        let listed: Vec<Value> = dir
            .data()
            .students
            .iter()
            .filter(|s| &s.id == id)
            .map(|s| json!({"school": school_name(&config, &s.school), "class": s.class}))
            .collect();
        let all: Vec<Value> = rows.iter().map(|r| notice(r, &config, &dir, nl)).collect();
        let pick = |states: &[&str]| -> Vec<Value> {
            all.iter()
                .filter(|n| states.contains(&n["state"].as_str().unwrap_or("")))
                .cloned()
                .collect()
        };
        let next = crate::admin::api::next_after(rows.iter().map(|r| r.notice.id), PAGE);
        ctx["listed"] = json!(listed);
        ctx["waiting"] = json!(pick(&["pending", "claimed"]));
        ctx["sent"] = json!(pick(&["sent"]));
        ctx["other"] = json!(pick(&["dead", "cancelled"]));
        ctx["empty"] = json!(all.is_empty());
        ctx["next_href"] = json!(next.map(|n| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("student", id)
                .append_pair("after", &n.to_string())
                .finish();
            format!("/student?{q}")
        }));
    }
    d.page(&op, "student", "student.html.j2", ctx)
}
