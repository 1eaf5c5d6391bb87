//! The lower and upper bound of every number and duration in the file.
//!
//! Below its lower bound a value delivers nothing (a zero timeout fails every try, a daily cap
//! of zero defers every notice forever, a zero body limit refuses every POST); above its upper
//! bound it is a slip of the keyboard that would hold resources without end or overflow the
//! planner's date arithmetic. Each value is checked where it is written, so a school that
//! inherits a bad global value is not reported a second time. `config/rustig.toml` states the
//! same bounds next to each key.

use std::fmt::Display;
use std::time::Duration;

use super::raw::{RawAbsences, RawConfig, RawDigest, RawGrades};
use super::values::HumanDuration;
use super::Resolver;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86400);

/// The defaults `resolve` uses, needed here for the bounds that depend on another key.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
const DEFAULT_MAX_ACK_PENDING: i64 = 1000;
const DEFAULT_PREFETCH: u16 = 100;

/// A duration as the example config writes it: "10m", "28d", "1s".
fn show(d: Duration) -> String {
    let s = d.as_secs();
    [(86400, "d"), (3600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| s >= *unit && s.is_multiple_of(*unit))
        .map(|(unit, name)| format!("{}{name}", s / unit))
        .unwrap_or_else(|| format!("{s}s"))
}

impl Resolver<'_> {
    /// Checks every number and duration of the file against its bounds.
    pub(super) fn bounds(&mut self, raw: &RawConfig) {
        if let Some(i) = &raw.ingest {
            if let Some(h) = &i.http {
                self.listener(
                    "ingest.http",
                    [h.max_body_bytes, h.max_connections],
                    [h.read_timeout, h.idle_timeout],
                );
            }
            for (n, nats) in i.nats.iter().enumerate() {
                let p = format!("ingest.nats[{n}]");
                let pending = self.count(
                    &format!("{p}.max_ack_pending"),
                    nats.max_ack_pending,
                    1,
                    1_000_000,
                    "the server would hand out no message",
                );
                let pending = pending.unwrap_or(DEFAULT_MAX_ACK_PENDING).max(1);
                self.duration(
                    &format!("{p}.ack_wait"),
                    nats.ack_wait,
                    SECOND,
                    12 * HOUR,
                    "messages would come back before they are committed",
                );
                self.count(
                    &format!("{p}.batch"),
                    nats.batch,
                    1,
                    if pending <= 10_000 {
                        of("max_ack_pending", pending as usize)
                    } else {
                        10_000.into()
                    },
                    "no message would ever be fetched",
                );
            }
            for (n, amqp) in i.amqp.iter().enumerate() {
                let p = format!("ingest.amqp[{n}]");
                let prefetch = self.count(
                    &format!("{p}.prefetch"),
                    amqp.prefetch,
                    1,
                    u16::MAX,
                    "0 would mean no limit at all to the broker",
                );
                let prefetch = prefetch.unwrap_or(DEFAULT_PREFETCH).max(1);
                self.count(
                    &format!("{p}.batch"),
                    amqp.batch,
                    1,
                    of("prefetch", usize::from(prefetch)),
                    "no message would ever be committed",
                );
            }
        }
        if let Some(a) = &raw.admin {
            self.listener(
                "admin",
                [a.max_body_bytes, a.max_connections],
                [a.read_timeout, a.idle_timeout],
            );
        }
        if let Some(e) = &raw.email {
            self.count(
                "email.pool_size",
                e.pool_size,
                1,
                256,
                "no message could be handed to the relay",
            );
            self.duration(
                "email.timeout",
                e.timeout,
                SECOND,
                10 * MINUTE,
                "every send would time out at once",
            );
        }
        if let Some(d) = &raw.delivery {
            let p = "delivery";
            self.count(
                &format!("{p}.max_attempts"),
                d.max_attempts,
                1,
                1000,
                "no message would ever be tried",
            );
            let base = self.duration(
                &format!("{p}.retry_base"),
                d.retry_base,
                SECOND,
                DAY,
                "a failing service would be retried without pause",
            );
            let base = base.unwrap_or(DEFAULT_RETRY_BASE).max(SECOND);
            self.duration(
                &format!("{p}.retry_max"),
                d.retry_max,
                of("retry_base", base),
                7 * DAY,
                "",
            );
            self.count(
                &format!("{p}.concurrency"),
                d.concurrency,
                1,
                1024,
                "no message would ever be sent",
            );
            self.duration(
                &format!("{p}.lease"),
                d.lease,
                SECOND,
                DAY,
                "another instance could take over a claim being sent",
            );
            self.count(
                &format!("{p}.batch"),
                d.batch,
                1,
                100_000,
                "no message would ever be claimed",
            );
            self.duration(
                &format!("{p}.max_age"),
                d.max_age,
                MINUTE,
                365 * DAY,
                "every message would be dead before its first try",
            );
            self.duration(
                &format!("{p}.timeout"),
                d.timeout,
                SECOND,
                10 * MINUTE,
                "every push and webhook request would time out at once",
            );
            self.count(
                &format!("{p}.per_host"),
                d.per_host,
                1,
                1024,
                "no request could go to any host",
            );
        }
        if let Some(w) = &raw.webpush {
            self.push_ttl("webpush.ttl", w.ttl);
        }
        if let Some(f) = &raw.fcm {
            self.push_ttl("fcm.ttl", f.ttl);
        }
        if let Some(n) = &raw.ntfy {
            self.count(
                "ntfy.priority",
                n.priority,
                1,
                5,
                "ntfy priorities are 1 (min) to 5 (max)",
            );
        }
        if let Some(d) = &raw.directory {
            self.duration(
                "directory.unresolved_hold",
                d.unresolved_hold,
                SECOND,
                365 * DAY,
                "an event for a student the directory does not list yet would be dead at once",
            );
        }
        self.policy_bounds(
            "",
            raw.grades.as_ref(),
            raw.absences.as_ref(),
            raw.digest.as_ref(),
        );
        for (id, s) in &raw.schools {
            self.policy_bounds(
                &format!("schools.{id}."),
                s.grades.as_ref(),
                s.absences.as_ref(),
                s.digest.as_ref(),
            );
        }
    }

    /// A listener's limits (`[ingest.http]`, `[admin]`): `[max_body_bytes, max_connections]`
    /// and `[read_timeout, idle_timeout]`.
    fn listener(
        &mut self,
        p: &str,
        [max_body_bytes, max_connections]: [Option<usize>; 2],
        [read_timeout, idle_timeout]: [Option<HumanDuration>; 2],
    ) {
        self.count(
            &format!("{p}.max_body_bytes"),
            max_body_bytes,
            1024,
            1 << 30,
            "every POST would be refused as too large (413)",
        );
        let read = self.duration(
            &format!("{p}.read_timeout"),
            read_timeout,
            SECOND,
            10 * MINUTE,
            "no client could send a request in time",
        );
        let read = read.unwrap_or(DEFAULT_READ_TIMEOUT).max(SECOND);
        self.duration(
            &format!("{p}.idle_timeout"),
            idle_timeout,
            SECOND,
            of("read_timeout", read),
            "a client could not reuse its connection for the next request",
        );
        self.count(
            &format!("{p}.max_connections"),
            max_connections,
            1,
            10_000,
            "no connection would ever be served",
        );
    }

    /// The policy tables' numbers, global (`prefix` "") or of one school ("schools.x.").
    fn policy_bounds(
        &mut self,
        prefix: &str,
        grades: Option<&RawGrades>,
        absences: Option<&RawAbsences>,
        digest: Option<&RawDigest>,
    ) {
        if let Some(g) = grades {
            self.count(
                &format!("{prefix}grades.embargo_school_days"),
                g.embargo_school_days,
                0,
                30,
                "",
            );
            self.duration(
                &format!("{prefix}grades.max_hold"),
                g.max_hold,
                Duration::ZERO,
                60 * DAY,
                "",
            );
            self.duration(
                &format!("{prefix}grades.guardian_delay"),
                g.guardian_delay,
                Duration::ZERO,
                30 * DAY,
                "",
            );
        }
        if let Some(a) = absences {
            self.duration(
                &format!("{prefix}absences.settle"),
                a.settle,
                Duration::ZERO,
                7 * DAY,
                "",
            );
        }
        if let Some(d) = digest {
            self.count(
                &format!("{prefix}digest.max_per_day"),
                d.max_per_day,
                1,
                100,
                "every notice would be deferred to the next day, forever",
            );
        }
    }

    fn push_ttl(&mut self, key: &str, ttl: Option<HumanDuration>) {
        self.duration(
            key,
            ttl,
            MINUTE,
            28 * DAY,
            "a push service would drop the message for every device that is not online at once",
        );
    }

    /// Checks a number; returns it when it was given.
    pub(super) fn count<T: PartialOrd + Display + Copy + Default>(
        &mut self,
        key: &str,
        value: Option<T>,
        min: impl Into<Bound<T>>,
        max: impl Into<Bound<T>>,
        below: &str,
    ) -> Option<T> {
        let v = value?;
        self.check(key, v, min.into(), max.into(), below, |n| n.to_string());
        Some(v)
    }

    /// Checks a duration; returns it when it was given.
    pub(super) fn duration(
        &mut self,
        key: &str,
        value: Option<HumanDuration>,
        min: impl Into<Bound<Duration>>,
        max: impl Into<Bound<Duration>>,
        below: &str,
    ) -> Option<Duration> {
        let v = value?.0;
        let quoted = |d| format!("\"{}\"", show(d));
        self.check(key, v, min.into(), max.into(), below, quoted);
        Some(v)
    }

    /// Below the range: "must be at least …" and why; above it: "must be between … and …"
    /// (or "at most …" when nothing is too small).
    fn check<T: PartialOrd + Copy + Default>(
        &mut self,
        key: &str,
        v: T,
        min: Bound<T>,
        max: Bound<T>,
        below: &str,
        show: impl Fn(T) -> String,
    ) {
        let name = |b: Bound<T>| match b.key {
            Some(k) => format!("{k} ({})", show(b.value)),
            None => show(b.value),
        };
        let message = if v < min.value {
            let range = format!("must be at least {} (and at most {})", name(min), name(max));
            if below.is_empty() {
                range
            } else {
                format!("{range}: {below}")
            }
        } else if v > max.value {
            if min.value == T::default() && min.key.is_none() {
                format!("must be at most {}", name(max))
            } else {
                format!("must be between {} and {}", name(min), name(max))
            }
        } else {
            return;
        };
        self.value_error(key, message);
    }
}

/// A bound: a fixed value, or the value of another key (named in the message).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound<T> {
    value: T,
    key: Option<&'static str>,
}

impl<T> From<T> for Bound<T> {
    fn from(value: T) -> Self {
        Bound { value, key: None }
    }
}

/// The value of `key` as a bound.
fn of<T>(key: &'static str, value: T) -> Bound<T> {
    Bound {
        value,
        key: Some(key),
    }
}

#[cfg(test)]
mod tests {
    use super::show;
    use std::time::Duration;

    #[test]
    fn durations_show_as_the_config_writes_them() {
        let s = |n| show(Duration::from_secs(n));
        assert_eq!(
            [s(1), s(90), s(600), s(7200), s(86400 * 28), s(0)],
            ["1s", "90s", "10m", "2h", "28d", "0s"]
        );
    }
}

#[cfg(test)]
mod table {
    use std::path::Path;

    use crate::config::Config;

    /// Every error of a config text, one line each.
    fn errors(text: &str) -> Vec<String> {
        match Config::parse(Path::new("rustig.toml"), text) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn values_that_deliver_nothing_are_errors_with_file_line_key_and_what_is_allowed() {
        let cases = [
            (
                "[delivery]\nmax_age = \"0s\"\n",
                "rustig.toml:2:11: delivery.max_age = \"0s\": must be at least \"1m\" (and at most \"365d\"): every message would be dead before its first try",
            ),
            (
                "[email]\nfrom = \"a@b.example\"\ntimeout = \"0s\"\n",
                "rustig.toml:3:11: email.timeout = \"0s\": must be at least \"1s\" (and at most \"10m\"): every send would time out at once",
            ),
            (
                "[delivery]\ntimeout = \"0s\"\n",
                "rustig.toml:2:11: delivery.timeout = \"0s\": must be at least \"1s\" (and at most \"10m\"): every push and webhook request would time out at once",
            ),
            (
                "[digest]\nmax_per_day = 0\n",
                "rustig.toml:2:15: digest.max_per_day = 0: must be at least 1 (and at most 100): every notice would be deferred to the next day, forever",
            ),
            (
                "[ingest.http]\nlisten = \"127.0.0.1:8425\"\nmax_body_bytes = 0\n",
                "rustig.toml:3:18: ingest.http.max_body_bytes = 0: must be at least 1024 (and at most 1073741824): every POST would be refused as too large (413)",
            ),
            (
                "[delivery]\nmax_attempts = 0\n",
                "rustig.toml:2:16: delivery.max_attempts = 0: must be at least 1 (and at most 1000): no message would ever be tried",
            ),
            (
                "[delivery]\nconcurrency = 0\n",
                "rustig.toml:2:15: delivery.concurrency = 0: must be at least 1 (and at most 1024): no message would ever be sent",
            ),
            (
                "[delivery]\nretry_base = \"1m\"\nretry_max = \"30s\"\n",
                "rustig.toml:3:13: delivery.retry_max = \"30s\": must be at least retry_base (\"1m\") (and at most \"7d\")",
            ),
            (
                "[delivery]\nlease = \"200ms\"\n",
                "rustig.toml:2:9: delivery.lease = \"200ms\": must be at least \"1s\" (and at most \"1d\"): another instance could take over a claim being sent",
            ),
            (
                "[grades]\nguardian_delay = \"100years\"\n",
                "rustig.toml:2:18: grades.guardian_delay = \"100years\": must be at most \"30d\"",
            ),
            (
                "[webpush]\nvapid_private_key_file = \"k\"\nsubject = \"mailto:a@b\"\nttl = \"0s\"\n",
                "rustig.toml:4:7: webpush.ttl = \"0s\": must be at least \"1m\" (and at most \"28d\"): a push service would drop the message for every device that is not online at once",
            ),
            (
                "[ntfy]\npriority = 9\n",
                "rustig.toml:2:12: ntfy.priority = 9: must be between 1 and 5",
            ),
            (
                "[[ingest.nats]]\nurl = \"nats://127.0.0.1:4222\"\nstream = \"S\"\nsubject = \"s.>\"\nmax_ack_pending = 10\nbatch = 11\n",
                "rustig.toml:6:9: ingest.nats[0].batch = 11: must be between 1 and max_ack_pending (10)",
            ),
            (
                "[[ingest.amqp]]\nurl = \"amqp://127.0.0.1\"\nqueue = \"q\"\nprefetch = 0\n",
                "rustig.toml:4:12: ingest.amqp[0].prefetch = 0: must be at least 1 (and at most 65535): 0 would mean no limit at all to the broker",
            ),
            (
                "[ingest.http]\nlisten = \"127.0.0.1:8425\"\nread_timeout = \"10s\"\nidle_timeout = \"1m\"\n",
                "rustig.toml:4:16: ingest.http.idle_timeout = \"1m\": must be between \"1s\" and read_timeout (\"10s\")",
            ),
            (
                "[ingest.http]\nlisten = \"127.0.0.1:8425\"\nmax_connections = 0\n",
                "rustig.toml:3:19: ingest.http.max_connections = 0: must be at least 1 (and at most 10000): no connection would ever be served",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(errors(text), [want], "{text}");
        }
    }

    #[test]
    fn every_error_is_reported_and_an_inherited_value_only_once() {
        let text = "[delivery]\nmax_age = \"0s\"\ntimeout = \"0s\"\n\
                    [digest]\nmax_per_day = 0\n\
                    [schools.a]\nname = \"A\"\n\
                    [schools.b.digest]\nmax_per_day = 1000\n\
                    [schools.c.absences]\nsettle = \"1y\"\n";
        let e = errors(text);
        let keys: Vec<&str> = e
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap().split(" = ").next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "delivery.max_age",
                "delivery.timeout",
                "digest.max_per_day",
                "schools.b.digest.max_per_day",
                "schools.c.absences.settle",
            ],
            "{e:#?}"
        );
    }

    #[test]
    fn values_at_the_bounds_are_accepted() {
        let text = "[ingest.http]\nlisten = \"127.0.0.1:8425\"\nmax_body_bytes = 1024\n\
                    read_timeout = \"1s\"\nidle_timeout = \"1s\"\nmax_connections = 1\n\
                    [email]\nfrom = \"a@b.example\"\ntimeout = \"10m\"\npool_size = 256\n\
                    [delivery]\nmax_attempts = 1\nretry_base = \"1d\"\nretry_max = \"1d\"\n\
                    max_age = \"1m\"\ntimeout = \"1s\"\nlease = \"1d\"\nper_host = 1024\n\
                    [grades]\nmax_hold = \"0s\"\nguardian_delay = \"30d\"\nembargo_school_days = 0\n\
                    [absences]\nsettle = \"0s\"\n\
                    [digest]\nmax_per_day = 1\n";
        assert_eq!(errors(text), Vec::<String>::new());
    }
}
