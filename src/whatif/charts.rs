//! The week-ahead chart and the calm figures under both configs, from the outlook's pure
//! functions ([`crate::outlook`]): the candidate's chart beside the current one, and the
//! figures of each week the replay covered.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::replan::Planned;
use super::replay::Message;
use crate::config::Config;
use crate::outlook::{calm_figures, week_ahead, CalmFigures, PendingItem, WeekAhead};

/// One school's chart and figures under the current rules and the candidate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchoolCharts {
    pub school: String,
    /// The week ahead of the pending buffer as it is planned now (`GET /v1/week`).
    #[schema(value_type = Object)]
    pub week_before: WeekAhead,
    /// The same week with the buffer re-planned under the candidate.
    #[schema(value_type = Object)]
    pub week_after: WeekAhead,
    /// Per week the replay touched (oldest first): the calm figures of the replayed
    /// messages under each config.
    pub calm: Vec<CalmPair>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalmPair {
    /// The Monday the week starts on (school's zone).
    #[schema(value_type = String, format = Date)]
    pub week_start: NaiveDate,
    #[schema(value_type = Object)]
    pub before: CalmFigures,
    #[schema(value_type = Object)]
    pub after: CalmFigures,
}

fn pending_items(planned: &[Planned]) -> Vec<PendingItem> {
    planned
        .iter()
        .enumerate()
        .map(|(i, p)| PendingItem {
            id: i as i64,
            school: p.fate.school.clone(),
            role: p.fate.role,
            channel: p.fate.channel,
            due_at: p.fate.at,
            student: p.fate.student.clone(),
            class: p.class.clone(),
            rule: p.fate.rule.to_string(),
        })
        .collect()
}

/// The local Mondays of the weeks `[from, to)` touches in `config`'s zone for `school`.
fn weeks(config: &Config, school: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    use chrono::Datelike;
    let tz = config
        .policy(school)
        .unwrap_or(&config.default_policy)
        .calendar
        .tz;
    let monday = |t: DateTime<Utc>| {
        let d = t.with_timezone(&tz).date_naive();
        d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()))
    };
    let (first, last) = (monday(from), monday(to));
    let mut out = vec![];
    let mut w = first;
    while w <= last {
        out.push(w);
        w += chrono::Duration::days(7);
    }
    out
}

/// Per school: the week ahead of the buffer planned under each config (at `now`), and the
/// calm figures of the replayed messages per week of `[from, now)`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    current: &Config,
    candidate: &Config,
    schools: &[String],
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    pending: (&[Planned], &[Planned]),
    replayed: (&[Message], &[Message]),
) -> Vec<SchoolCharts> {
    let (before, after) = (pending_items(pending.0), pending_items(pending.1));
    let (sent_before, sent_after) = replayed;
    schools
        .iter()
        .map(|school| SchoolCharts {
            school: school.clone(),
            week_before: week_ahead(current, school, now, &before),
            week_after: week_ahead(candidate, school, now, &after),
            calm: weeks(current, school, from, now)
                .into_iter()
                .map(|week_start| CalmPair {
                    week_start,
                    before: calm_figures(current, school, week_start, sent_before),
                    after: calm_figures(candidate, school, week_start, sent_after),
                })
                .collect(),
        })
        .collect()
}
