//! `GET /metrics` (read token): the Prometheus text of [`crate::observe::metrics`]. Counters
//! and histograms are counted where things happen; the gauges of the buffer (notices by
//! state, overdue), the sources and the store are set here at each scrape, from the same
//! store queries `/v1/status` uses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use super::{AdminState, Routes};
use crate::observe::metrics;
use crate::store::admin::StateCount;
use crate::store::health::PROBE_TIMEOUT;

/// The exposition format's content type (Prometheus text 0.0.4).
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every state a notice can be in: each gets a series per school from the first scrape.
const STATES: [&str; 5] = ["pending", "claimed", "sent", "dead", "cancelled"];

/// The channel label while the store counts per school and state only.
const CHANNEL_ALL: &str = "all";

/// (school, channel, state) of every `rustig_notices` series this process has exported.
static SEEN: Mutex<BTreeSet<(String, String, String)>> = Mutex::new(BTreeSet::new());

/// The channel of a count (`all` until the store counts per channel).
fn channel_of(_c: &StateCount) -> &str {
    CHANNEL_ALL
}

pub fn routes() -> Routes {
    Routes::default().read(OpenApiRouter::new().routes(utoipa_axum::routes!(get_metrics)))
}

/// Prometheus metrics: events, notices, messages, sources, store (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format",
        content_type = "text/plain; version=0.0.4", body = String)))]
async fn get_metrics(State(state): State<AdminState>) -> Response {
    let handle = metrics::install();
    scrape(&state).await;
    handle.run_upkeep();
    ([(CONTENT_TYPE, TEXT)], handle.render()).into_response()
}

/// Sets the gauges that describe the present: the buffer, the sources, the store.
async fn scrape(state: &AdminState) {
    for s in state.sources.iter() {
        let h = s.snapshot();
        metrics::source(&h.name, h.connected, h.lag);
    }
    let views = state.store.views();
    let counts = match tokio::time::timeout(PROBE_TIMEOUT, views.state_counts()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the store did not answer");
            metrics::store_up(false);
            return;
        }
        Err(_) => {
            tracing::warn!("metrics: the store did not answer in time");
            metrics::store_up(false);
            return;
        }
    };
    metrics::store_up(true);
    let config = state.shared.config();
    let mut schools: BTreeSet<&str> = config.schools.keys().map(String::as_str).collect();
    schools.extend(counts.iter().map(|c| c.school.as_str()));
    // The guard must not live across an await.
    {
        // Every state of every school and channel seen so far, 0 unless counted now: a state
        // that empties shows 0, not its last value.
        let mut series = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        for school in &schools {
            for st in STATES {
                series.insert((school.to_string(), CHANNEL_ALL.to_string(), st.to_string()));
            }
        }
        let mut now_counts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for c in &counts {
            let key = (c.school.clone(), channel_of(c).to_string(), c.state.clone());
            *now_counts.entry(key).or_default() += c.count;
        }
        series.extend(now_counts.keys().cloned());
        for key in series.iter() {
            let (school, channel, st) = key;
            let n = now_counts.get(key).copied().unwrap_or(0);
            metrics::notices(school, Some(channel), st, n);
        }
    }
    // A small table (only the exceptions), grouped by school.
    match state.store.unresolved().counts().await {
        Ok(unresolved) => {
            for school in &schools {
                let u = unresolved.iter().find(|u| u.school == *school);
                metrics::unresolved(school, u.map_or(0, |u| u.waiting), u.map_or(0, |u| u.dead));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the store did not answer"),
    }
    let now = state.clock.now();
    for school in schools {
        match views.oldest_pending(school, now).await {
            Ok((oldest, _)) => {
                let age = oldest.map_or(chrono::Duration::zero(), |t| now - t);
                metrics::overdue(school, age);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store did not answer");
                metrics::store_up(false);
                return;
            }
        }
    }
}
