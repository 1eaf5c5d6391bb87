//! **Week ahead**: per school the coming seven days in its zone, one row per day, its
//! pending releases as bars per hour (each a link to what it holds) against the quiet hours,
//! weekend and holidays shaded; the same as a table for screen readers and small screens.
//! The numbers are [`crate::outlook::week_ahead`]'s, the page draws them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::bar;
use super::chart::{self, BarIn, ShadeIn};
use super::page::store_down;
use super::page::{message, Dash, Operator};
use super::texts::text;
use super::view::{school_name, when};
use crate::outlook::{self, week};

#[derive(Debug, Default, Deserialize)]
pub struct WeekQuery {
    pub school: Option<String>,
}

/// The schools to choose from, and the one chosen (the first by default): `None` when the
/// query names one the config does not know.
pub fn choose(config: &crate::config::Config, asked: Option<&str>) -> Option<(Vec<Value>, String)> {
    let ids: Vec<String> = config.schools.keys().cloned().collect();
    let chosen = match asked.filter(|s| !s.is_empty()) {
        Some(s) if config.policy(s).is_some() => s.to_string(),
        Some(_) => return None,
        None => ids.first().cloned()?,
    };
    let list = ids
        .iter()
        .map(|id| json!({"id": id, "name": school_name(config, id), "chosen": *id == chosen}))
        .collect();
    Some((list, chosen))
}

/// "ouder/verzorger email 3, leerling email 1".
fn parts(nl: bool, b: &week::HourBar) -> String {
    b.by_role_channel
        .iter()
        .map(|(role, channel, n)| {
            format!(
                "{} {} {n}",
                text(nl, &format!("role_{}", role.as_str())),
                channel.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<WeekQuery>) -> Response {
    let nl = op.nl();
    let config = d.admin.shared.config();
    let Some((schools, school)) = choose(&config, q.school.as_deref()) else {
        return message(
            &op.v,
            Some(&op.session),
            StatusCode::NOT_FOUND,
            "week_title",
            text(nl, "school_unknown").into(),
            Some("/week"),
        );
    };
    let Ok(mut pending) = d.admin.store.outlook().pending_items(&school).await else {
        return store_down(&op);
    };
    week::with_classes(&mut pending, &d.admin.shared.directory());
    let now = d.admin.clock.now();
    let w = outlook::week_ahead(&config, &school, now, &pending);
    let bars: Vec<BarIn> = w
        .bars
        .iter()
        .map(|b| BarIn {
            start: b.start,
            total: b.total,
            parts: parts(nl, b),
            href: bar::href(&school, b.start),
        })
        .collect();
    let shades: Vec<ShadeIn> = w
        .blackouts
        .iter()
        .map(|b| ShadeIn {
            start: b.start,
            end: b.end,
            kind: b.kind.as_str(),
        })
        .collect();
    let days = chart::days(w.zone, w.from, w.to, &bars, &shades, nl);
    let in_week: u32 = w.bars.iter().map(|b| b.total).sum();
    let ticks: Vec<Value> = [0u32, 6, 12, 18]
        .iter()
        .map(|h| json!({"x": f64::from(*h) * chart::COL, "label": format!("{h:02}")}))
        .collect();
    d.page(
        &op,
        "week",
        "week.html.j2",
        json!({
            "title": format!("{} · {}", text(nl, "week_title"), school_name(&config, &school)),
            "schools": schools,
            "school": school,
            "school_name": school_name(&config, &school),
            "zone": w.zone.name(),
            "from": when(w.from, w.zone, nl),
            "to": when(w.to, w.zone, nl),
            "in_week": in_week,
            "overdue": w.overdue,
            "beyond": w.beyond,
            "days": days,
            "bars_drawn": days.iter().map(|d| d.bars.len()).sum::<usize>(),
            "width": chart::WIDTH,
            "height": chart::HEIGHT,
            "bars_h": chart::BARS,
            "ticks": ticks,
        }),
    )
}
