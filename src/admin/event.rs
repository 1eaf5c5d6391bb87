//! One event as an operator asks about it: its state (planned, superseded by which event,
//! suppressed and why, unresolved) and every notice with its reasons. `GET /v1/events/{id}`
//! answers it as JSON, `rustig explain --event-id` prints [`EventReport::text`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{local, zone, NoticeView};
use crate::config::Config;
use crate::model::Directory;
use crate::policy::{plan, Facts};
use crate::store::admin::NoticeRow;
use crate::store::{Result, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct EventReport {
    pub id: String,
    /// `grade.entered`, `absence.registered`, …
    #[serde(rename = "type")]
    pub event_type: String,
    pub school: String,
    pub record: String,
    pub student: Option<String>,
    pub occurred_at: String,
    pub received_at: String,
    /// `planned` (it has notices), `superseded` (a later event of its record is in force),
    /// `suppressed` (the rules send nobody anything), `unresolved` (its student is not in
    /// the directory), `dead` (its student was not listed within `[directory]
    /// unresolved_hold`; `reason` says so).
    pub state: String,
    /// Why it is dead, when it is.
    pub reason: Option<String>,
    /// The event now in force for the record, when this one is superseded.
    pub superseded_by: Option<String>,
    /// Why nobody (or not everybody) gets a notice, as planned now.
    pub suppressed: Vec<String>,
    pub notices: Vec<NoticeView>,
    /// The report in words, as `rustig explain --event-id` prints it.
    pub text: String,
}

/// The report, or `None` when no event with this id is stored.
pub async fn report(
    store: &dyn Store,
    config: &Config,
    directory: &Directory,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<EventReport>> {
    let Some(stored) = store.views().stored_event(id).await? else {
        return Ok(None);
    };
    let e = &stored.event;
    let tz = zone(config, &e.school);
    let rows: Vec<NoticeRow> = {
        let filter = crate::store::admin::NoticeFilter {
            school: Some(e.school.clone()),
            event: Some(id.to_string()),
            ..Default::default()
        };
        store.views().notices(&filter, None, 10_000).await?
    };
    let superseded_by = stored.current.clone().filter(|c| c != id);
    let kept = store.unresolved().of_event(id).await?;
    let unresolved = e
        .student()
        .is_some_and(|s| directory.student(&e.school, s).is_none())
        || kept.as_ref().is_some_and(|k| k.dead_at.is_none());
    // Its student was not listed within `[directory] unresolved_hold`.
    let dead = kept.as_ref().filter(|k| k.dead_at.is_some());
    // Planned again now, only for its words: why nobody (or not everybody) gets a notice.
    let suppressed: Vec<String> = match config.policy(&e.school) {
        Some(policy) if superseded_by.is_none() => {
            plan(e, &Facts::default(), directory, policy, now)
                .suppressed
                .iter()
                .map(crate::policy::explain::suppressed_line)
                .collect()
        }
        _ => vec![],
    };
    let state = if superseded_by.is_some() {
        "superseded"
    } else if dead.is_some() {
        "dead"
    } else if !rows.is_empty() {
        "planned"
    } else if unresolved {
        "unresolved"
    } else {
        "suppressed"
    };
    let notices: Vec<NoticeView> = rows.iter().map(|r| NoticeView::new(r, config)).collect();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "event {id} ({}, record {}): {state}{}",
        e.type_name(),
        e.record,
        superseded_by
            .as_ref()
            .map(|by| format!(" by {by}"))
            .unwrap_or_default()
    );
    if let Some(d) = dead {
        let _ = writeln!(
            text,
            "dead since {}: {}",
            crate::policy::explain::local_short(d.dead_at.unwrap_or_default(), tz),
            d.reason
                .as_deref()
                .unwrap_or("its student was not in the directory")
        );
    } else if unresolved {
        let _ = writeln!(
            text,
            "student {} is not in the directory{}: nothing is planned until a directory import \
             adds them (at most [directory] unresolved_hold, {})",
            e.student().unwrap_or_default(),
            kept.as_ref()
                .map(|k| format!(
                    " (unresolved since {})",
                    crate::policy::explain::local_short(k.since, tz)
                ))
                .unwrap_or_default(),
            crate::model::time::human(config.unresolved_hold)
        );
    }
    for n in &notices {
        let _ = writeln!(
            text,
            "{} {} {} [{}{}]: due {} — {}",
            n.role,
            n.recipient,
            n.channel,
            n.state,
            n.last_error
                .as_ref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default(),
            crate::policy::explain::local_short(
                rows.iter()
                    .find(|r| r.notice.id == n.id)
                    .map(|r| r.notice.due_at)
                    .unwrap_or_default(),
                tz
            ),
            n.explain.join("; ")
        );
    }
    for s in &suppressed {
        let _ = writeln!(text, "{s}");
    }
    if notices.is_empty() && suppressed.is_empty() && !unresolved && dead.is_none() {
        let _ = writeln!(text, "no notices stored for this event");
    }
    Ok(Some(EventReport {
        id: id.to_string(),
        event_type: e.type_name().into(),
        school: e.school.clone(),
        record: e.record.clone(),
        student: e.student().map(str::to_string),
        occurred_at: local(e.occurred_utc(), tz),
        received_at: local(stored.received_at, tz),
        state: state.into(),
        superseded_by,
        reason: dead.and_then(|d| d.reason.clone()),
        suppressed,
        notices,
        text,
    }))
}
