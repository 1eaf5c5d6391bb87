//! **Audit trail**: the last week's entries, oldest first, a page at a time (the data of
//! `GET /v1/audit`).

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::page::store_down;
use super::page::{Dash, Operator};
use super::texts::text;
use super::view::when;
use crate::store::audit::AuditFilter;

const PAGE: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    pub after: Option<i64>,
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<Paging>) -> Response {
    let nl = op.nl();
    let now = d.admin.clock.now();
    let filter = AuditFilter {
        since: Some(now - chrono::Duration::days(7)),
        ..AuditFilter::default()
    };
    let Ok(rows) = d.admin.store.audit().list(&filter, q.after, PAGE).await else {
        return store_down(&op);
    };
    let tz = d.admin.shared.config().default_policy.calendar.tz;
    let compact = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": when(r.entry.at, tz, nl),
                "actor": r.entry.actor,
                "action": r.entry.action,
                "target": r.entry.target,
                "before": compact(&r.entry.before),
                "after": compact(&r.entry.after),
            })
        })
        .collect();
    let next = crate::admin::api::next_after(rows.iter().map(|r| r.id), PAGE);
    d.page(
        &op,
        "audit",
        "audit.html.j2",
        json!({
            "title": text(nl, "audit_title"),
            "items": items,
            "next_href": next.map(|n| format!("/audit?after={n}")),
        }),
    )
}
