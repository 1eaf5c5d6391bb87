//! The dashboard's outlook as JSON: the week ahead of a school (`GET /v1/week`), what one
//! hour of it holds (`GET /v1/week/bar`) and the calm figures of a week (`GET /v1/calm`).
//! Read token; nothing changes. Instants in the school's zone with its offset.
//!
//! No grade values and no names: a bar lists notices by id, student id and class, each with
//! its reason chain; the calm figures are counts and durations.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::api::{local, next_after, ApiError, ApiResult, PageQuery};
use super::{AdminState, Routes};
use crate::config::Config;
use crate::outlook::{self, calm, week};

pub fn routes() -> Routes {
    Routes::default().read(
        OpenApiRouter::new()
            .routes(utoipa_axum::routes!(get_week))
            .routes(utoipa_axum::routes!(get_week_bar))
            .routes(utoipa_axum::routes!(get_calm)),
    )
}

/// `?school=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WeekQuery {
    /// The school's id (`[schools.<id>]`).
    pub school: String,
}

/// `?school=&hour=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BarQuery {
    pub school: String,
    /// An instant of the hour (RFC 3339), usually a bar's `start`; the bar is the local hour
    /// it falls in.
    pub hour: String,
}

/// `?school=&week=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalmQuery {
    pub school: String,
    /// An ISO week, `2026-W48` (default: the current week in the school's zone).
    pub week: Option<String>,
}

/// Notices of one role on one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleChannelCount {
    /// `student` or `guardian`.
    pub role: String,
    /// `email`, `webpush`, `fcm`, `ntfy` or `webhook`.
    pub channel: String,
    pub count: u32,
}

/// The pending notices due in one local hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct BarView {
    pub start: String,
    pub end: String,
    pub total: u32,
    /// Students first, then guardians; only those with notices.
    pub counts: Vec<RoleChannelCount>,
}

/// A span in which the school delivers nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlackoutView {
    pub start: String,
    pub end: String,
    /// `quiet`, `weekend` or `holiday`.
    pub kind: String,
}

/// A school's week ahead: its pending notices per local hour beside its blackouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekView {
    pub school: String,
    /// The school's IANA zone.
    pub zone: String,
    /// The start of the current local hour.
    pub from: String,
    /// Seven local days later (167 to 169 hourly bars in a week with a DST change).
    pub to: String,
    pub now: String,
    /// Every pending notice of the school.
    pub pending: u32,
    /// Due before now: the release is behind, or they wait for a retry.
    pub overdue: u32,
    /// Due after `to`.
    pub beyond: u32,
    /// Every local hour of the window, also those without notices.
    pub bars: Vec<BarView>,
    pub blackouts: Vec<BlackoutView>,
}

/// One pending notice of a bar: who (by id and class), how, and why then.
#[derive(Debug, Serialize, ToSchema)]
pub struct BarItem {
    pub id: i64,
    pub event: String,
    pub student: String,
    /// The student's class in the directory.
    pub class: Option<String>,
    /// `student` or `guardian`.
    pub role: String,
    pub channel: String,
    /// `grade`, `absence`, `correction` or `withdrawal`.
    pub kind: String,
    pub due_at: String,
    /// The rule that set the due time (the last step of the chain).
    pub rule: String,
    /// The reason chain, step by step, as `rustig explain` says it.
    pub explain: Vec<String>,
}

/// What one hour of the week ahead holds, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct BarPage {
    pub school: String,
    pub start: String,
    pub end: String,
    pub items: Vec<BarItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// The calm figures of one school's week; counts and durations only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalmView {
    pub school: String,
    /// `2026-W48`.
    pub week: String,
    /// Monday 00:00 and the next Monday 00:00, local.
    pub from: String,
    pub to: String,
    /// `false` when part of the week lies beyond `[retention] notices`: its sent notices
    /// were purged, and the figures count only what is left.
    pub complete: bool,
    /// Messages sent in the week.
    pub messages: u32,
    /// Families (a student's guardians together) that got at least one message.
    pub families: u32,
    pub per_family_median: f64,
    pub per_family_p90: f64,
    /// Messages sent inside quiet hours, the weekend or a holiday (each should be 0).
    pub in_quiet_hours: u32,
    pub in_weekend: u32,
    pub in_holidays: u32,
    /// Median time between a student's message about an event and the guardians'.
    pub student_to_guardian_median_seconds: Option<i64>,
    /// Of the grades sent, the share that came after their discussion in class.
    pub grades_after_discussion_share: Option<f64>,
    /// Corrections and withdrawals that reached a family.
    pub corrections_to_families: u32,
}

/// The school a query names: 404 for a school the config does not list.
fn school_of(config: &Config, school: &str) -> Result<(), ApiError> {
    if config.policy(school).is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no school {school:?} in the config (known: {})",
            config.known_schools()
        )))
    }
}

/// The school's pending notices as bars per local hour of the coming seven days, with its
/// quiet hours, weekend and holidays as blackouts.
#[utoipa::path(get, path = "/v1/week", tag = "outlook",
    params(WeekQuery),
    responses((status = 200, description = "the week ahead", body = WeekView), (status = 404, description = "no such school", body = super::api::ErrorBody)))]
async fn get_week(
    State(state): State<AdminState>,
    Query(q): Query<WeekQuery>,
) -> ApiResult<WeekView> {
    let config = state.shared.config();
    school_of(&config, &q.school)?;
    let mut pending = state.store.outlook().pending_items(&q.school).await?;
    week::with_classes(&mut pending, &state.shared.directory());
    let now = state.clock.now();
    let w = outlook::week_ahead(&config, &q.school, now, &pending);
    let tz = w.zone;
    let bars = (0..w.bars.len())
        .map(|i| {
            let b = &w.bars[i];
            BarView {
                start: local(b.start, tz),
                end: local(w.bar_end(i), tz),
                total: b.total,
                counts: b
                    .by_role_channel
                    .iter()
                    .map(|(role, channel, count)| RoleChannelCount {
                        role: role.as_str().into(),
                        channel: channel.as_str().into(),
                        count: *count,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(WeekView {
        school: w.school.clone(),
        zone: tz.name().into(),
        from: local(w.from, tz),
        to: local(w.to, tz),
        now: local(now, tz),
        pending: pending.len() as u32,
        overdue: w.overdue,
        beyond: w.beyond,
        bars,
        blackouts: w
            .blackouts
            .iter()
            .map(|b| BlackoutView {
                start: local(b.start, tz),
                end: local(b.end, tz),
                kind: b.kind.as_str().into(),
            })
            .collect(),
    }))
}

fn instant(name: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} = {s:?}: expected an instant like \"2026-11-23T17:00:00+01:00\""
            ))
        })
}

/// The pending notices due in the local hour `hour` falls in (from now, in the current
/// hour), by id: students by id and class, no grade values, each with its reason chain.
#[utoipa::path(get, path = "/v1/week/bar", tag = "outlook",
    params(BarQuery, PageQuery),
    responses((status = 200, description = "the notices of one hour", body = BarPage), (status = 400, description = "a malformed query", body = super::api::ErrorBody), (status = 404, description = "no such school", body = super::api::ErrorBody)))]
async fn get_week_bar(
    State(state): State<AdminState>,
    Query(q): Query<BarQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<BarPage> {
    let config = state.shared.config();
    school_of(&config, &q.school)?;
    let limit = page.limit()?;
    let tz = outlook::policy_of(&config, &q.school).calendar.tz;
    let hour = instant("hour", &q.hour)?;
    let start = outlook::local_hour_floor(hour, tz);
    let end = start + Duration::hours(1);
    // The week's first bar counts from now; what is due before is overdue, not in a bar.
    let from = start.max(state.clock.now()).min(end);
    let rows = state
        .store
        .outlook()
        .pending_between(&q.school, from, end, page.after, limit)
        .await?;
    let dir = state.shared.directory();
    let next = next_after(rows.iter().map(|n| n.id), limit);
    let items = rows
        .into_iter()
        .map(|n| BarItem {
            id: n.id,
            class: dir
                .student(&n.school, &n.student)
                .map(|s| s.class.clone())
                .filter(|c| !c.is_empty()),
            role: n.role.as_str().into(),
            channel: n.channel.as_str().into(),
            kind: n.kind.as_str().into(),
            due_at: local(n.due_at, tz),
            rule: n
                .reasons
                .last()
                .map(|r| r.rule.name())
                .unwrap_or("entered")
                .into(),
            explain: n
                .reasons
                .iter()
                .map(|r| crate::policy::explain::describe(r, tz))
                .collect(),
            event: n.event_id,
            student: n.student,
        })
        .collect();
    Ok(Json(BarPage {
        school: q.school,
        start: local(start, tz),
        end: local(end, tz),
        items,
        next_after: next,
    }))
}

/// `2026-W48` → its Monday.
fn iso_week(s: &str) -> Result<NaiveDate, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "week = {s:?}: expected an ISO week like \"2026-W48\""
        ))
    };
    let (y, w) = s.split_once("-W").ok_or_else(bad)?;
    if y.len() != 4 || w.len() != 2 {
        return Err(bad());
    }
    let (y, w) = (
        y.parse::<i32>().map_err(|_| bad())?,
        w.parse::<u32>().map_err(|_| bad())?,
    );
    NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon).ok_or_else(bad)
}

/// The calm figures of a school's week, from the messages the store still keeps: messages
/// per family (median, p90), messages sent in a blackout (should be 0), the median time from
/// a student's message to the guardians', the share of grades that came after class
/// discussion, and corrections and withdrawals that reached a family.
#[utoipa::path(get, path = "/v1/calm", tag = "outlook",
    params(CalmQuery),
    responses((status = 200, description = "the week's calm figures", body = CalmView), (status = 400, description = "a malformed query", body = super::api::ErrorBody), (status = 404, description = "no such school", body = super::api::ErrorBody)))]
async fn get_calm(
    State(state): State<AdminState>,
    Query(q): Query<CalmQuery>,
) -> ApiResult<CalmView> {
    let config = state.shared.config();
    school_of(&config, &q.school)?;
    let calendar = &outlook::policy_of(&config, &q.school).calendar;
    let now = state.clock.now();
    let day = match &q.week {
        Some(w) => iso_week(w)?,
        None => now.with_timezone(&calendar.tz).date_naive(),
    };
    let (monday, from, to) = calm::week_bounds(calendar, day);
    let deliveries = state
        .store
        .outlook()
        .deliveries(&q.school, from, to)
        .await?;
    let f = outlook::calm_figures(&config, &q.school, monday, &deliveries);
    let tz = calendar.tz;
    let iso = monday.iso_week();
    Ok(Json(CalmView {
        school: f.school,
        week: format!("{}-W{:02}", iso.year(), iso.week()),
        from: local(from, tz),
        to: local(to, tz),
        complete: from >= now - config.retention.notices,
        messages: f.messages,
        families: f.families,
        per_family_median: f.per_family_median,
        per_family_p90: f.per_family_p90,
        in_quiet_hours: f.in_quiet_hours,
        in_weekend: f.in_weekend,
        in_holidays: f.in_holidays,
        student_to_guardian_median_seconds: f.student_to_guardian_median.map(|d| d.num_seconds()),
        grades_after_discussion_share: f.grades_after_discussion_share,
        corrections_to_families: f.corrections_to_families,
    }))
}

#[cfg(test)]
mod tests {
    use super::iso_week;
    use chrono::NaiveDate;

    #[test]
    fn iso_weeks_parse_to_their_monday() {
        assert_eq!(
            iso_week("2026-W48").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(
            iso_week("2027-W01").unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()
        );
        for bad in ["2026-48", "2026-W54", "26-W01", "2026-W1", "", "2026-W4x"] {
            assert!(iso_week(bad).is_err(), "{bad}");
        }
    }
}
