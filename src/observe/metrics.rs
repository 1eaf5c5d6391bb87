//! Every metric rustig exports, in one place: names, help texts, buckets and the one-line
//! helpers the call sites use, so a name is written once and the README's list, the Grafana
//! dashboard and the alert rules can be checked against this module (tests/metrics.rs).
//!
//! Recorded through the `metrics` facade; `rustig run` installs the Prometheus recorder
//! ([`install`]) and the admin API renders it at `GET /metrics`. Without a recorder (the
//! command line, `simulate`, unit tests) every helper is a no-op.
//!
//! Labels are bounded and impersonal: source names and school ids come from the config,
//! channels, states, kinds and rules from fixed lists. Never a student, recipient, event or
//! message id, nor an address.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::ChannelKind;

/// Events handed to ingest, by `source`, event `type` and `outcome` (`new`, `stale`,
/// `duplicate`, `conflict`, `rejected`).
pub const EVENTS: &str = "rustig_events_total";
/// Inputs kept in quarantine, by `source` and `kind` (`rejected`, `conflict`).
pub const QUARANTINED: &str = "rustig_events_quarantined_total";
/// Batches refused whole because the quarantine was full, by `source`.
pub const INGEST_REFUSED: &str = "rustig_ingest_refused_total";
/// Notices planned, by `school` and `outcome`: the rule that set the due time last
/// (`entered` = due at once, `quiet_hours`, `weekend`, …).
pub const PLANNED: &str = "rustig_notices_planned_total";
/// Notices a rule suppressed, by `school` and `rule`.
pub const SUPPRESSED: &str = "rustig_notices_suppressed_total";
/// Messages handed over to a channel, by `channel`.
pub const SENT: &str = "rustig_messages_sent_total";
/// Failed sends, by `channel` and `kind` (`transient`: retried, `permanent`).
pub const SEND_FAILURES: &str = "rustig_send_failures_total";
/// Contacts a channel's service called gone (unsubscribed push endpoints, …), by `channel`.
pub const GONE: &str = "rustig_contacts_gone_total";
/// Messages given up on (dead), by `channel`.
pub const DEAD: &str = "rustig_messages_dead_total";
/// How long a channel took to hand one message over, by `channel`.
pub const SEND_DURATION: &str = "rustig_send_duration_seconds";
/// From a message's due instant to its hand-over, by `channel`: how late the release is.
pub const LATENESS: &str = "rustig_release_lateness_seconds";
/// Notices per claim of the release loop.
pub const CLAIM_BATCH: &str = "rustig_claim_batch_notices";
/// Config reloads (SIGHUP, the admin API), by `result` (`ok`, `refused`).
pub const RELOADS: &str = "rustig_config_reloads_total";
/// Notices in the store, by `school`, `channel` and `state`, set at each scrape.
pub const NOTICES: &str = "rustig_notices";
/// Events for a student the directory does not list, by `school` and `state` (`waiting` for
/// an import, `dead`: `[directory] unresolved_hold` ran out), set at each scrape.
pub const UNRESOLVED: &str = "rustig_events_unresolved";
/// Seconds since the oldest pending notice of a `school` became due (0 when none is overdue).
pub const OLDEST_OVERDUE: &str = "rustig_oldest_pending_overdue_seconds";
/// 1 when a `source` is connected (or listening), else 0.
pub const SOURCE_CONNECTED: &str = "rustig_source_connected";
/// Messages waiting upstream for a `source`, where its broker reports it.
pub const SOURCE_LAG: &str = "rustig_source_lag_messages";
/// 1 when the store answered the scrape's query, else 0.
pub const STORE_UP: &str = "rustig_store_up";
/// Always 1, with the `version` label.
pub const BUILD_INFO: &str = "rustig_build_info";

/// Every name above, for tests and the README.
pub const ALL: &[&str] = &[
    EVENTS,
    QUARANTINED,
    INGEST_REFUSED,
    PLANNED,
    SUPPRESSED,
    SENT,
    SEND_FAILURES,
    GONE,
    DEAD,
    SEND_DURATION,
    LATENESS,
    CLAIM_BATCH,
    RELOADS,
    NOTICES,
    UNRESOLVED,
    OLDEST_OVERDUE,
    SOURCE_CONNECTED,
    SOURCE_LAG,
    STORE_UP,
    BUILD_INFO,
];

/// Seconds: a send is milliseconds to a minute (SMTP timeouts).
const SEND_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Seconds: on time is under a second; a backlog shows in minutes and hours.
const LATENESS_BUCKETS: &[f64] = &[
    0.1,
    0.5,
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    4.0 * 3600.0,
];
const CLAIM_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's recorder (once; later calls return the
/// same handle) and describes every metric. A process that has another recorder already
/// gets a handle that renders nothing.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
            }
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// The recorder with rustig's histogram buckets (without them the exporter would render
/// summaries, which cannot be aggregated across instances).
fn recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(SEND_DURATION.into()), SEND_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LATENESS.into()), LATENESS_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(CLAIM_BATCH.into()), CLAIM_BUCKETS))
        .expect("fixed, non-empty bucket lists")
        .build_recorder()
}

/// The handle [`install`] made, if it ran in this process.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// Keeps the recorder's histograms drained between scrapes; runs until `stop`.
pub async fn upkeep(handle: PrometheusHandle, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

fn describe() {
    describe_counter!(EVENTS, "Events handed to ingest, by source, type and outcome (new, stale, duplicate, conflict, rejected).");
    describe_counter!(
        QUARANTINED,
        "Inputs kept in quarantine, by source and kind (rejected, conflict)."
    );
    describe_counter!(
        INGEST_REFUSED,
        "Batches refused whole because the quarantine was full, by source."
    );
    describe_counter!(PLANNED, "Notices planned, by school and outcome (the rule that set the due time last; entered = at once).");
    describe_counter!(SUPPRESSED, "Notices a rule suppressed, by school and rule.");
    describe_counter!(SENT, "Messages handed over to a channel.");
    describe_counter!(
        SEND_FAILURES,
        "Failed sends, by channel and kind (transient, permanent)."
    );
    describe_counter!(GONE, "Contacts a channel's service called gone.");
    describe_counter!(DEAD, "Messages given up on.");
    describe_histogram!(
        SEND_DURATION,
        ::metrics::Unit::Seconds,
        "Time a channel took to hand one message over."
    );
    describe_histogram!(
        LATENESS,
        ::metrics::Unit::Seconds,
        "From a message's due instant to its hand-over."
    );
    describe_histogram!(CLAIM_BATCH, "Notices per claim of the release loop.");
    describe_counter!(RELOADS, "Config reloads, by result (ok, refused).");
    describe_gauge!(
        NOTICES,
        "Notices in the store, by school, channel and state."
    );
    describe_gauge!(
        OLDEST_OVERDUE,
        ::metrics::Unit::Seconds,
        "Seconds since the oldest pending notice became due (0: none overdue)."
    );
    describe_gauge!(
        UNRESOLVED,
        "Events for a student the directory does not list, by school and state (waiting, dead)."
    );
    describe_gauge!(SOURCE_CONNECTED, "1 when the source is connected, else 0.");
    describe_gauge!(
        SOURCE_LAG,
        "Messages waiting upstream, where the broker reports it."
    );
    describe_gauge!(
        STORE_UP,
        "1 when the store answered the scrape's query, else 0."
    );
    describe_gauge!(BUILD_INFO, "Always 1, with the version.");
}

/// Makes the counters of each configured channel, and the reload counters, exist at 0 from
/// the start: `rate()` and `increase()` then see the first failure, and the dashboard shows
/// 0 instead of "no data".
pub fn zero(channels: impl IntoIterator<Item = ChannelKind>) {
    for c in channels {
        let ch = c.as_str();
        counter!(SENT, "channel" => ch).increment(0);
        for kind in ["transient", "permanent"] {
            counter!(SEND_FAILURES, "channel" => ch, "kind" => kind).increment(0);
        }
        counter!(GONE, "channel" => ch).increment(0);
        counter!(DEAD, "channel" => ch).increment(0);
    }
    for result in ["ok", "refused"] {
        counter!(RELOADS, "result" => result).increment(0);
    }
}

// The helpers: one line at each call site.

pub fn event(source: &str, kind: &'static str, outcome: &'static str) {
    counter!(EVENTS, "source" => source.to_owned(), "type" => kind, "outcome" => outcome)
        .increment(1);
}

pub fn quarantined(source: &str, kind: &'static str, n: u64) {
    counter!(QUARANTINED, "source" => source.to_owned(), "kind" => kind).increment(n);
}

pub fn ingest_refused(source: &str) {
    counter!(INGEST_REFUSED, "source" => source.to_owned()).increment(1);
}

pub fn planned(school: &str, outcome: &'static str) {
    counter!(PLANNED, "school" => school.to_owned(), "outcome" => outcome).increment(1);
}

pub fn suppressed(school: &str, rule: &'static str) {
    counter!(SUPPRESSED, "school" => school.to_owned(), "rule" => rule).increment(1);
}

pub fn sent(channel: ChannelKind, duration: Duration) {
    counter!(SENT, "channel" => channel.as_str()).increment(1);
    histogram!(SEND_DURATION, "channel" => channel.as_str()).record(duration.as_secs_f64());
}

/// A send that failed (its duration counts too).
pub fn send_failed(channel: ChannelKind, permanent: bool, duration: Duration) {
    let kind = if permanent { "permanent" } else { "transient" };
    counter!(SEND_FAILURES, "channel" => channel.as_str(), "kind" => kind).increment(1);
    histogram!(SEND_DURATION, "channel" => channel.as_str()).record(duration.as_secs_f64());
}

pub fn gone(channel: ChannelKind, n: usize) {
    counter!(GONE, "channel" => channel.as_str()).increment(n as u64);
}

pub fn dead(channel: ChannelKind) {
    counter!(DEAD, "channel" => channel.as_str()).increment(1);
}

/// Due → handed over; a message sent early (an operator's release) counts as 0.
pub fn lateness(channel: ChannelKind, late: chrono::Duration) {
    let secs = late.num_milliseconds().max(0) as f64 / 1000.0;
    histogram!(LATENESS, "channel" => channel.as_str()).record(secs);
}

pub fn claim_batch(notices: usize) {
    histogram!(CLAIM_BATCH).record(notices as f64);
}

pub fn reload(ok: bool) {
    counter!(RELOADS, "result" => if ok { "ok" } else { "refused" }).increment(1);
}

/// Set at scrape, from the store's counts; `channel` `None` is `all` (every channel).
pub fn notices(school: &str, channel: Option<&str>, state: &str, count: i64) {
    let channel = channel.unwrap_or("all").to_owned();
    gauge!(NOTICES, "school" => school.to_owned(), "channel" => channel, "state" => state.to_owned())
        .set(count as f64);
}

/// Set at scrape, from the store's counts of events waiting for their student.
pub fn unresolved(school: &str, waiting: i64, dead: i64) {
    gauge!(UNRESOLVED, "school" => school.to_owned(), "state" => "waiting").set(waiting as f64);
    gauge!(UNRESOLVED, "school" => school.to_owned(), "state" => "dead").set(dead as f64);
}

/// How long the oldest pending notice of `school` has been due (negative: not yet, 0).
pub fn overdue(school: &str, oldest: chrono::Duration) {
    let secs = oldest.num_milliseconds().max(0) as f64 / 1000.0;
    gauge!(OLDEST_OVERDUE, "school" => school.to_owned()).set(secs);
}

pub fn source(name: &str, connected: bool, lag: Option<u64>) {
    gauge!(SOURCE_CONNECTED, "source" => name.to_owned()).set(if connected { 1.0 } else { 0.0 });
    if let Some(lag) = lag {
        gauge!(SOURCE_LAG, "source" => name.to_owned()).set(lag as f64);
    }
}

pub fn store_up(up: bool) {
    gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every helper records under a name of [`ALL`], histograms with buckets, and nothing
    /// else is exported.
    #[test]
    fn the_helpers_record_every_listed_name_and_histograms_have_buckets() {
        let recorder = recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            describe();
            gauge!(BUILD_INFO, "version" => "test").set(1.0);
            zero([ChannelKind::Email]);
            event("http", "grade.entered", "new");
            quarantined("http", "rejected", 1);
            ingest_refused("http");
            planned("coornhert", "quiet_hours");
            suppressed("coornhert", "consent");
            sent(ChannelKind::Email, Duration::from_millis(3));
            send_failed(ChannelKind::Email, true, Duration::from_millis(3));
            gone(ChannelKind::Email, 1);
            dead(ChannelKind::Email);
            lateness(ChannelKind::Email, chrono::Duration::seconds(2));
            claim_batch(3);
            reload(true);
            notices("coornhert", None, "pending", 2);
            overdue("coornhert", chrono::Duration::seconds(-5));
            source("http 127.0.0.1:8425", true, Some(0));
            store_up(true);
        });
        handle.run_upkeep();
        let text = handle.render();
        for name in ALL {
            assert!(
                text.contains(&format!("\n{name}")),
                "{name} missing:\n{text}"
            );
        }
        for name in [SEND_DURATION, LATENESS, CLAIM_BATCH] {
            assert!(text.contains(&format!("# TYPE {name} histogram")), "{text}");
        }
        assert!(text.contains("rustig_oldest_pending_overdue_seconds{school=\"coornhert\"} 0"));
        assert!(text
            .contains("rustig_notices{school=\"coornhert\",channel=\"all\",state=\"pending\"} 2"));
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| ALL.contains(b))
                .unwrap_or(name);
            assert!(ALL.contains(&base), "{name} is not listed in ALL");
        }
    }
}
