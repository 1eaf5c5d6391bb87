//! **Calm report**: per school and week, from what the store says was sent: messages per
//! family (median, p90), messages inside quiet hours, weekend and holidays (each should be
//! 0), the median time between a student's message and the guardians', the share of grades
//! released after their discussion in class, corrections and withdrawals that reached a
//! family. Counts only ([`crate::outlook::calm_figures`]).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;
use serde_json::json;

use super::page::store_down;
use super::page::{message, Dash, Operator};
use super::texts::text;
use super::view::{day, school_name};
use super::week::choose;
use crate::outlook::{self, calm};

#[derive(Debug, Default, Deserialize)]
pub struct CalmQuery {
    pub school: Option<String>,
    /// An ISO week, `2026-W48` (default: this week in the school's zone).
    pub week: Option<String>,
}

/// `2026-W48` → its Monday.
pub fn parse_week(s: &str) -> Option<NaiveDate> {
    let (y, w) = s.trim().split_once("-W")?;
    NaiveDate::from_isoywd_opt(y.parse().ok()?, w.parse().ok()?, Weekday::Mon)
}

/// The ISO week of `d`: `2026-W48`.
pub fn week_of(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// "1 u 5 min" / "1 h 5 min".
fn duration(d: Duration, nl: bool) -> String {
    let m = d.num_minutes().max(0);
    let (h, m) = (m / 60, m % 60);
    match (h, nl) {
        (0, _) => format!("{m} min"),
        (h, true) => format!("{h} u {m} min"),
        (h, false) => format!("{h} h {m} min"),
    }
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<CalmQuery>) -> Response {
    let nl = op.nl();
    let config = d.admin.shared.config();
    let Some((schools, school)) = choose(&config, q.school.as_deref()) else {
        return message(
            &op.v,
            Some(&op.session),
            StatusCode::NOT_FOUND,
            "calm_title",
            text(nl, "school_unknown").into(),
            Some("/calm"),
        );
    };
    let calendar = &outlook::policy_of(&config, &school).calendar;
    let today = d.admin.clock.now().with_timezone(&calendar.tz).date_naive();
    let asked = match q.week.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => match parse_week(w) {
            Some(monday) => monday,
            None => {
                return message(
                    &op.v,
                    Some(&op.session),
                    StatusCode::BAD_REQUEST,
                    "calm_title",
                    text(nl, "week_invalid").into(),
                    Some("/calm"),
                )
            }
        },
        None => today,
    };
    let (monday, start, end) = calm::week_bounds(calendar, asked);
    let Ok(deliveries) = d
        .admin
        .store
        .outlook()
        .deliveries(&school, start, end)
        .await
    else {
        return store_down(&op);
    };
    let f = outlook::calm_figures(&config, &school, monday, &deliveries);
    let link = |m: NaiveDate| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("school", &school)
            .append_pair("week", &week_of(m))
            .finish();
        format!("/calm?{q}")
    };
    let blackouts = f.in_quiet_hours + f.in_weekend + f.in_holidays;
    d.page(
        &op,
        "calm",
        "calm.html.j2",
        json!({
            "title": format!("{} · {}", text(nl, "calm_title"), school_name(&config, &school)),
            "schools": schools,
            "school": school,
            "school_name": school_name(&config, &school),
            "week": week_of(monday),
            "from": day(monday, nl),
            "until": day(monday + Duration::days(6), nl),
            "prev_href": link(monday - Duration::days(7)),
            "next_href": (monday + Duration::days(7) <= today).then(|| link(monday + Duration::days(7))),
            "f": {
                "messages": f.messages,
                "families": f.families,
                "median": format!("{:.1}", f.per_family_median),
                "p90": format!("{:.1}", f.per_family_p90),
                "quiet": f.in_quiet_hours,
                "weekend": f.in_weekend,
                "holidays": f.in_holidays,
                "blackouts": blackouts,
                "student_to_guardian": f.student_to_guardian_median.map(|d| duration(d, nl)),
                "discussed": f.grades_after_discussion_share.map(|s| format!("{:.0}%", s * 100.0)),
                "corrections": f.corrections_to_families,
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_both_ways() {
        let m = parse_week("2026-W48").unwrap();
        assert_eq!(m, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        assert_eq!(week_of(m + Duration::days(6)), "2026-W48");
        assert!(parse_week("2026-48").is_none());
        assert!(parse_week("2026-W60").is_none());
        assert_eq!(duration(Duration::minutes(65), true), "1 u 5 min");
    }
}
