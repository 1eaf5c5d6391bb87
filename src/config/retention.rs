//! `[retention]` (how long personal data is kept, AVG) and `[quarantine]` (how much rejected
//! input is kept): their keys, defaults and bounds.

use std::time::Duration;

use serde::Deserialize;

use super::values::HumanDuration;
use super::Resolver;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86400);

/// How long each kind of row is kept, and how the purge goes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delivered and dead notices, counted from when they were sent (or last due); their
    /// daily counts stay in `notice_days`.
    pub notices: chrono::Duration,
    /// The personal fields of events (the whole body: grades, notes, student), counted from
    /// when they were received, once no notice of theirs waits; id and content hash stay as the
    /// idempotency key.
    pub events: chrono::Duration,
    /// Rejected and conflicting input.
    pub quarantine: chrono::Duration,
    /// The audit trail (operator actions, erasures): kept longer, to answer for them.
    pub audit: chrono::Duration,
    /// Rows per purge transaction: small, so that release never waits long for the store.
    pub batch: u32,
    /// How often the purge runs.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            notices: chrono::Duration::days(120),
            events: chrono::Duration::days(120),
            quarantine: chrono::Duration::days(30),
            audit: chrono::Duration::days(730),
            batch: 500,
            interval: HOUR,
        }
    }
}

/// How much of rejected input is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineConfig {
    /// Bytes kept of each rejected item (with its full size and SHA-256).
    pub keep_bytes: usize,
    /// Bytes all quarantined items may take together; when full, input that would need
    /// quarantine is refused (HTTP 507, brokers do not acknowledge it) until retention or the
    /// operator makes room.
    pub max_bytes: u64,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig {
            keep_bytes: 4096,
            max_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) notices: Option<HumanDuration>,
    pub(super) events: Option<HumanDuration>,
    pub(super) quarantine: Option<HumanDuration>,
    pub(super) audit: Option<HumanDuration>,
    pub(super) batch: Option<u32>,
    pub(super) interval: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuarantine {
    pub(super) keep_bytes: Option<usize>,
    pub(super) max_bytes: Option<u64>,
}

impl Resolver<'_> {
    /// Checks the bounds of `[retention]` and resolves it.
    pub(super) fn retention(&mut self, raw: Option<RawRetention>) -> RetentionConfig {
        let d = RetentionConfig::default();
        let Some(r) = raw else { return d };
        let period = |s: &mut Self, key: &str, v: Option<HumanDuration>, min, max, below| {
            s.duration(&format!("retention.{key}"), v, min, max, below)
                .map(|v| chrono::Duration::from_std(v).unwrap_or(chrono::Duration::MAX))
        };
        let gone_early = "delivered messages would be gone before anyone could explain them";
        RetentionConfig {
            notices: period(self, "notices", r.notices, DAY, 3650 * DAY, gone_early)
                .unwrap_or(d.notices),
            events: period(self, "events", r.events, DAY, 3650 * DAY, gone_early)
                .unwrap_or(d.events),
            quarantine: period(
                self,
                "quarantine",
                r.quarantine,
                DAY,
                3650 * DAY,
                "rejected input would be gone before an operator could look at it",
            )
            .unwrap_or(d.quarantine),
            audit: period(
                self,
                "audit",
                r.audit,
                30 * DAY,
                3650 * DAY,
                "the school could not answer for what was done last month",
            )
            .unwrap_or(d.audit),
            batch: self
                .count(
                    "retention.batch",
                    r.batch,
                    10,
                    100_000,
                    "the purge would take a transaction per row",
                )
                .unwrap_or(d.batch),
            interval: self
                .duration(
                    "retention.interval",
                    r.interval,
                    MINUTE,
                    DAY,
                    "the purge would run without pause",
                )
                .unwrap_or(d.interval),
        }
    }

    /// Checks the bounds of `[quarantine]` and resolves it.
    pub(super) fn quarantine(&mut self, raw: Option<RawQuarantine>) -> QuarantineConfig {
        let d = QuarantineConfig::default();
        let Some(q) = raw else { return d };
        QuarantineConfig {
            keep_bytes: self
                .count(
                    "quarantine.keep_bytes",
                    q.keep_bytes,
                    256,
                    1 << 20,
                    "too little of a rejected item would be kept to see what was wrong",
                )
                .unwrap_or(d.keep_bytes),
            max_bytes: self
                .count(
                    "quarantine.max_bytes",
                    q.max_bytes,
                    1 << 20,
                    16 << 30,
                    "the quarantine would be full after a few rejected items",
                )
                .unwrap_or(d.max_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn errors(text: &str) -> Vec<String> {
        match Config::parse(Path::new("rustig.toml"), text) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_keep_notices_and_events_120_days_quarantine_30_audit_2_years() {
        let c = Config::parse(Path::new("rustig.toml"), "").unwrap();
        assert_eq!(c.retention, RetentionConfig::default());
        assert_eq!(c.retention.notices, chrono::Duration::days(120));
        assert_eq!(c.retention.quarantine, chrono::Duration::days(30));
        assert_eq!(c.quarantine.max_bytes, 64 << 20);
    }

    #[test]
    fn keys_are_read() {
        let c = Config::parse(
            Path::new("rustig.toml"),
            "[retention]\nnotices = \"30d\"\nevents = \"60d\"\nquarantine = \"7d\"\naudit = \"5y\"\n\
             batch = 50\ninterval = \"10m\"\n[quarantine]\nkeep_bytes = 1024\nmax_bytes = 1048576\n",
        )
        .unwrap();
        assert_eq!(c.retention.notices, chrono::Duration::days(30));
        assert_eq!(c.retention.events, chrono::Duration::days(60));
        assert_eq!(c.retention.quarantine, chrono::Duration::days(7));
        assert!(c.retention.audit > chrono::Duration::days(1825));
        assert_eq!(c.retention.batch, 50);
        assert_eq!(c.retention.interval, Duration::from_secs(600));
        assert_eq!(
            c.quarantine,
            QuarantineConfig {
                keep_bytes: 1024,
                max_bytes: 1 << 20
            }
        );
    }

    #[test]
    fn out_of_bounds_values_are_errors_with_line_and_what_is_allowed() {
        let cases = [
            (
                "[retention]\nnotices = \"1h\"\n",
                "rustig.toml:2:11: retention.notices = \"1h\": must be at least \"1d\" (and at most \"3650d\"): delivered messages would be gone before anyone could explain them",
            ),
            (
                "[retention]\naudit = \"7d\"\n",
                "rustig.toml:2:9: retention.audit = \"7d\": must be at least \"30d\" (and at most \"3650d\"): the school could not answer for what was done last month",
            ),
            (
                "[retention]\nbatch = 0\n",
                "rustig.toml:2:9: retention.batch = 0: must be at least 10 (and at most 100000): the purge would take a transaction per row",
            ),
            (
                "[quarantine]\nmax_bytes = 0\n",
                "rustig.toml:2:13: quarantine.max_bytes = 0: must be at least 1048576 (and at most 17179869184): the quarantine would be full after a few rejected items",
            ),
            (
                "[quarantine]\nkeep_bytes = 10\n",
                "rustig.toml:2:14: quarantine.keep_bytes = 10: must be at least 256 (and at most 1048576): too little of a rejected item would be kept to see what was wrong",
            ),
            (
                "[retention]\nkeep = \"1d\"\n",
                "rustig.toml:2:1: retention.keep: unknown key `keep`, allowed: `notices`, `events`, `quarantine`, `audit`, `batch`, `interval`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(errors(text), [want], "{text}");
        }
    }
}
