//! **What-if**: a candidate config (pasted, or uploaded as a file) tried against the pending
//! buffer and the events of the last days without changing anything ([`crate::whatif::run`]):
//! every error with its line, or how many notices move which way, the week chart under both
//! configs side by side and the calm figures under both. Applying it is a second form that
//! asks for the operate token ([`crate::whatif::apply`]: atomic write, `.bak`, reload,
//! audited as `config.apply` like the API's). One what-if runs at a time (`429` meanwhile):
//! a read token must not be able to keep the cores busy.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use chrono::DateTime;
use serde_json::{json, Value};

use super::chart::{self, BarIn, ShadeIn};
use super::form::{self, MultipartError};
use super::now::authorize;
use super::page::store_down;
use super::page::{message, redirect, refused_form, Dash, Operator};
use super::texts::text;
use super::view::{day, school_name};
use super::{bar, session};
use crate::whatif::{self, candidate, ApplyError, Counts, Diff, Refused};

pub async fn page(State(d): State<Dash>, op: Operator) -> Response {
    form_page(&d, &op, StatusCode::OK, json!({}))
}

fn form_page(d: &Dash, op: &Operator, status: StatusCode, extra: Value) -> Response {
    let nl = op.nl();
    let mut ctx = json!({
        "title": text(nl, "whatif_title"),
        "days": whatif::DEFAULT_DAYS,
        "max_days": whatif::MAX_DAYS,
        "max_kib": candidate::MAX_BYTES / 1024,
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut ctx, extra) {
        c.extend(e);
    }
    let mut r = d.page(op, "whatif", "whatif.html.j2", ctx);
    *r.status_mut() = status;
    r
}

/// Moved counts as the page lists them.
fn counts(name: String, c: &Counts) -> Value {
    json!({
        "name": name, "earlier": c.earlier, "later": c.later, "same": c.same,
        "disappear": c.disappear, "appear": c.appear, "changed": c.changed(),
    })
}

fn diff(nl: bool, config: &crate::config::Config, d: &Diff) -> Value {
    let mut rows = vec![counts(text(nl, "total").into(), &d.total)];
    for (s, c) in &d.by_school {
        rows.push(counts(school_name(config, s), c));
    }
    for (r, c) in &d.by_role {
        rows.push(counts(text(nl, &format!("role_{r}")).into(), c));
    }
    for (ch, c) in &d.by_channel {
        rows.push(counts(ch.clone(), c));
    }
    for (rule, c) in &d.by_rule {
        rows.push(counts(format!("{} {rule}", text(nl, "rule")), c));
    }
    json!({ "before": d.before, "after": d.after, "rows": rows })
}

/// A week-ahead chart's rows from its JSON form (`outlook::WeekAhead` as the report
/// serializes it), as the week page draws them; `None` when the report has no chart.
fn week_rows(nl: bool, school: &str, w: &Value, links: bool) -> Option<Value> {
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.to_utc())
    };
    let zone: chrono_tz::Tz = w["zone"].as_str()?.parse().ok()?;
    let (from, to) = (instant(&w["from"])?, instant(&w["to"])?);
    let bars: Vec<BarIn> = w["bars"]
        .as_array()?
        .iter()
        .filter_map(|b| {
            let start = instant(&b["start"])?;
            let parts = b["by_role_channel"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|p| {
                            format!(
                                "{} {} {}",
                                text(nl, &format!("role_{}", p[0].as_str().unwrap_or(""))),
                                p[1].as_str().unwrap_or(""),
                                p[2]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            Some(BarIn {
                start,
                total: b["total"].as_u64().unwrap_or(0) as u32,
                parts,
                href: if links {
                    bar::href(school, start)
                } else {
                    String::new()
                },
            })
        })
        .collect();
    let shades: Vec<ShadeIn> = w["blackouts"]
        .as_array()?
        .iter()
        .filter_map(|b| {
            Some(ShadeIn {
                start: instant(&b["start"])?,
                end: instant(&b["end"])?,
                kind: match b["kind"].as_str()? {
                    "quiet" => "quiet",
                    "weekend" => "weekend",
                    "holiday" => "holiday",
                    _ => return None,
                },
            })
        })
        .collect();
    let days = chart::days(zone, from, to, &bars, &shades, nl);
    Some(json!({
        "days": days,
        "total": bars.iter().map(|b| b.total).sum::<u32>(),
    }))
}

/// Calm figures from their JSON form (`outlook::CalmFigures`).
fn calm(nl: bool, f: &Value) -> Value {
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    let x = |k: &str| f[k].as_f64().unwrap_or(0.0);
    json!({
        "messages": n("messages"),
        "families": n("families"),
        "median": format!("{:.1}", x("per_family_median")),
        "p90": format!("{:.1}", x("per_family_p90")),
        "quiet": n("in_quiet_hours"),
        "weekend": n("in_weekend"),
        "holidays": n("in_holidays"),
        "student_to_guardian": f["student_to_guardian_median_seconds"].as_i64().map(|s| {
            let m = s.max(0) / 60;
            if nl { format!("{} u {} min", m / 60, m % 60) } else { format!("{} h {} min", m / 60, m % 60) }
        }),
        "discussed": f["grades_after_discussion_share"].as_f64().map(|s| format!("{:.0}%", s * 100.0)),
        "corrections": n("corrections_to_families"),
    })
}

/// Per school: the charts and calm figures the report carries (none while the engine
/// leaves them out).
fn school_charts(nl: bool, config: &crate::config::Config, s: &Value) -> Value {
    let id = s["school"].as_str().unwrap_or_default();
    let calm_weeks: Vec<Value> = s["calm"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|c| {
                    let week = c["week_start"]
                        .as_str()
                        .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
                        .map(|d| day(d, nl))
                        .unwrap_or_default();
                    json!({"week": week, "before": calm(nl, &c["before"]), "after": calm(nl, &c["after"])})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": id,
        "name": school_name(config, id),
        "before": week_rows(nl, id, &s["week_before"], true),
        "after": week_rows(nl, id, &s["week_after"], false),
        "calm": calm_weeks,
    })
}

const FIELDS: &[&str] = &["csrf", "candidate", "file", "days"];

/// `POST /whatif` (multipart, for the file upload; urlencoded works too).
pub async fn run(State(d): State<Dash>, op: Operator, headers: HeaderMap, body: Bytes) -> Response {
    let nl = op.nl();
    // Each value at most the candidate's limit (and a little for a field's own bytes).
    let limit = candidate::MAX_BYTES + 1;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed = match form::boundary(content_type) {
        Some(b) => form::parse_multipart(&body, &b, FIELDS, limit),
        None => form::parse(&body, FIELDS, limit).map_err(|_| MultipartError::Malformed),
    };
    let f = match parsed {
        Ok(f) => f,
        Err(MultipartError::TooLarge(_)) => {
            return refused(
                &d,
                &op,
                StatusCode::PAYLOAD_TOO_LARGE,
                Refused::TooLarge(body.len()).to_string(),
                None,
            )
        }
        Err(MultipartError::NotText(_)) => {
            return refused(
                &d,
                &op,
                StatusCode::BAD_REQUEST,
                text(nl, "whatif_binary").into(),
                None,
            )
        }
        Err(MultipartError::Malformed) => {
            return refused(
                &d,
                &op,
                StatusCode::BAD_REQUEST,
                text(nl, "bad_request").into(),
                None,
            )
        }
    };
    if !session::csrf_ok(&op.session, form::field(&f, "csrf")) {
        return refused_form(&op);
    }
    let candidate = form::field(&f, "file")
        .filter(|t| !t.trim().is_empty())
        .or(form::field(&f, "candidate"))
        .unwrap_or("")
        .to_string();
    if candidate.trim().is_empty() {
        return refused(
            &d,
            &op,
            StatusCode::BAD_REQUEST,
            text(nl, "whatif_empty").into(),
            None,
        );
    }
    let days = match form::field(&f, "days")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => whatif::DEFAULT_DAYS,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=whatif::MAX_DAYS).contains(&n) => n,
            _ => {
                return refused(
                    &d,
                    &op,
                    StatusCode::BAD_REQUEST,
                    text(nl, "whatif_days_bad").into(),
                    Some(&candidate),
                )
            }
        },
    };
    let Ok(_one) = d.whatif.clone().try_acquire_owned() else {
        return refused(
            &d,
            &op,
            StatusCode::TOO_MANY_REQUESTS,
            text(nl, "whatif_busy").into(),
            Some(&candidate),
        );
    };
    let ctx = whatif::Ctx {
        store: d.admin.store.clone(),
        shared: d.admin.shared.clone(),
        now: d.admin.clock.now(),
    };
    let report = match whatif::run(&ctx, candidate.as_bytes(), days).await {
        Ok(r) => r,
        Err(whatif::WhatIfError::Refused(Refused::Invalid(errors))) => {
            let list: Vec<Value> = errors
                .iter()
                .map(|e| json!({"line": e.line, "column": e.column, "key": e.key, "message": e.message}))
                .collect();
            return form_page(
                &d,
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "errors": list, "candidate": candidate, "days": days }),
            );
        }
        Err(whatif::WhatIfError::Refused(r @ Refused::TooLarge(_))) => {
            return refused(&d, &op, StatusCode::PAYLOAD_TOO_LARGE, r.to_string(), None)
        }
        Err(whatif::WhatIfError::Refused(r)) => {
            return refused(&d, &op, StatusCode::BAD_REQUEST, r.to_string(), None)
        }
        Err(whatif::WhatIfError::Store(_)) => return store_down(&op),
        Err(e) => {
            return refused(
                &d,
                &op,
                StatusCode::BAD_REQUEST,
                e.to_string(),
                Some(&candidate),
            )
        }
    };
    let config = d.admin.shared.config();
    let schools: Vec<Value> = report
        .schools
        .iter()
        .map(|s| school_charts(nl, &config, &serde_json::to_value(s).unwrap_or_default()))
        .collect();
    form_page(
        &d,
        &op,
        StatusCode::OK,
        json!({
            "candidate": candidate,
            "days": days,
            "report": {
                "days": report.days,
                "events": report.replay.events,
                "current_sha256": report.current_sha256,
                "candidate_sha256": report.candidate_sha256,
                "restart_only": report.restart_only,
                "pending": diff(nl, &config, &report.pending),
                "replay": diff(nl, &config, &report.replay.diff),
                "rules_before": report.rules.before,
                "rules_after": report.rules.after,
                "schools": schools,
            },
            "width": chart::WIDTH,
            "height": chart::HEIGHT,
            "bars_h": chart::BARS,
        }),
    )
}

fn refused(
    d: &Dash,
    op: &Operator,
    status: StatusCode,
    why: String,
    candidate: Option<&str>,
) -> Response {
    form_page(
        d,
        op,
        status,
        json!({ "refusal": why, "candidate": candidate }),
    )
}

const APPLY_FIELDS: &[&str] = &["csrf", "operate_token", "candidate", "base_sha256"];

/// `POST /whatif/apply`: the candidate of a what-if, with the operate token.
pub async fn apply(State(d): State<Dash>, op: Operator, body: Bytes) -> Response {
    let nl = op.nl();
    let Ok(f) = form::parse(&body, APPLY_FIELDS, candidate::MAX_BYTES + 1) else {
        return refused(
            &d,
            &op,
            StatusCode::BAD_REQUEST,
            text(nl, "bad_request").into(),
            None,
        );
    };
    let caller = match authorize(&d, &op, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(reloader) = d.admin.reloader.clone() else {
        return refused(
            &d,
            &op,
            StatusCode::SERVICE_UNAVAILABLE,
            ApplyError::NoDaemon.to_string(),
            None,
        );
    };
    let candidate = form::field(&f, "candidate").unwrap_or("");
    let ctx = whatif::ApplyCtx {
        store: &*d.admin.store,
        shared: &d.admin.shared,
        reloader: &reloader,
        actor: caller.actor(),
        now: d.admin.clock.now(),
    };
    match whatif::apply(&ctx, candidate.as_bytes(), form::field(&f, "base_sha256")).await {
        Ok(a) => {
            d.sessions.flash(
                &op.id,
                format!(
                    "{} {} ({} {}); {} {}",
                    text(nl, "applied"),
                    a.file,
                    text(nl, "applied_backup"),
                    a.backup,
                    text(nl, "applied_replanned"),
                    a.replanned
                ),
                false,
            );
            redirect("/week", None)
        }
        Err(e) => {
            let status = match &e {
                ApplyError::Refused(Refused::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
                ApplyError::Refused(Refused::NotText(_)) => StatusCode::BAD_REQUEST,
                ApplyError::Refused(_) | ApplyError::Reload { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                ApplyError::Stale { .. } | ApplyError::RestartOnly(_) => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            message(
                &op.v,
                Some(&op.session),
                status,
                "action_refused",
                e.to_string(),
                Some("/whatif"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report carries the outlook's `WeekAhead` and `CalmFigures` as JSON: read back, they
    /// draw the same rows as the week page draws from the structs.
    #[test]
    fn charts_and_figures_are_read_from_the_reports_json() {
        let config = crate::config::Config::parse(
            std::path::Path::new("t.toml"),
            "timezone = \"Europe/Amsterdam\"\n[store]\nurl = \"sqlite::memory:\"\n\
             [email]\ntransport = \"file\"\ndir = \"/tmp\"\nfrom = \"a <a@b.example>\"\n\
             [schools.a]\nname = \"A\"\n",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-23T19:31:00+01:00")
            .unwrap()
            .to_utc();
        let pending = vec![crate::outlook::PendingItem {
            id: 1,
            school: "a".into(),
            role: crate::model::Role::Guardian,
            channel: crate::model::ChannelKind::Email,
            due_at: now + chrono::Duration::hours(20),
            student: "s-1".into(),
            class: Some("3c".into()),
            rule: "digest_slot".into(),
        }];
        let w = crate::outlook::week_ahead(&config, "a", now, &pending);
        let from_json = week_rows(true, "a", &serde_json::to_value(&w).unwrap(), true).unwrap();
        let days = from_json["days"].as_array().unwrap();
        assert_eq!(from_json["total"], 1);
        let bars: usize = days
            .iter()
            .map(|d| d["bars"].as_array().unwrap().len())
            .sum();
        assert_eq!(bars, 1);
        let shades: usize = days
            .iter()
            .map(|d| d["shades"].as_array().unwrap().len())
            .sum();
        assert!(shades > 0, "{from_json}");
        let f = crate::outlook::calm_figures(&config, "a", now.date_naive(), &[]);
        let c = calm(true, &serde_json::to_value(&f).unwrap());
        assert_eq!(c["messages"], 0);
        assert_eq!(c["median"], "0.0");
    }
}
