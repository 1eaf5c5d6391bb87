//! `GET /metrics` (read token): the Prometheus text of [`crate::observe::metrics`]. Counters
//! and histograms are counted where things happen; the gauges of the buffer (notices by
//! school, channel and state from the maintained counters; how long the oldest pending notice
//! is overdue), the sources and the store are set here at each scrape, from the same
//! store queries `/v1/status` uses.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use super::{AdminState, Routes};
use crate::model::ChannelKind;
use crate::observe::metrics;
use crate::store::health::PROBE_TIMEOUT;

/// The exposition format's content type (Prometheus text 0.0.4).
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every state a notice can be in: each gets a series per school, 0 when empty, so a state
/// that empties shows 0 instead of its last value.
const STATES: [&str; 5] = ["pending", "claimed", "sent", "dead", "cancelled"];

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
    // Every (school, channel, state) gets a series, 0 when empty: a bounded set (schools ×
    // 5 channels × 5 states), and a count that empties shows 0 instead of its last value.
    for school in &schools {
        for channel in ChannelKind::ALL {
            for st in STATES {
                let n = counts
                    .iter()
                    .filter(|c| {
                        c.school == *school && c.channel == channel.as_str() && c.state == st
                    })
                    .map(|c| c.count)
                    .sum();
                metrics::notices(school, channel.as_str(), st, n);
            }
        }
    }
    // How far the release is behind: the oldest pending due time, an index minimum (a count
    // of the overdue notices would read every one of them).
    let now = state.clock.now();
    for school in schools {
        match views.oldest_pending(school).await {
            Ok(oldest) => {
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
