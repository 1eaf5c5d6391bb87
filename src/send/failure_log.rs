//! Failed sends, logged as a summary: during an outage every message fails on every attempt,
//! and one warn line each (hundreds a minute) would bury everything else. The first failure
//! of a (channel, kind) is logged as it happens; further ones are counted and summarised at
//! most once per period; after a quiet period the next failure is a first one again.
//!
//! Pure: the caller passes `now` and logs the lines returned.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::model::ChannelKind;

/// How a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// Will be tried again.
    Transient,
    /// The service refused it for good.
    Permanent,
    /// Given up (attempts or `max_age` used up, or it could not be rendered).
    Dead,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
            FailureKind::Dead => "dead",
        }
    }
}

/// A line to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The first failure of its kind since things were quiet.
    First {
        channel: ChannelKind,
        kind: FailureKind,
        detail: String,
    },
    /// `count` more failures since `since`; `detail` is the last one's.
    Summary {
        channel: ChannelKind,
        kind: FailureKind,
        count: u64,
        since: DateTime<Utc>,
        detail: String,
    },
}

impl Line {
    /// Writes the line as one warn event; instants in `tz` (the config's zone) with offset.
    pub fn log(&self, tz: chrono_tz::Tz) {
        match self {
            Line::First {
                channel,
                kind,
                detail,
            } => tracing::warn!(
                channel = channel.as_str(),
                kind = kind.as_str(),
                "send failed: {detail} (more failures like it are summarised)"
            ),
            Line::Summary {
                channel,
                kind,
                count,
                since,
                detail,
            } => tracing::warn!(
                channel = channel.as_str(),
                kind = kind.as_str(),
                failures = count,
                since = %since.with_timezone(&tz).to_rfc3339(),
                "sends still failing: {count} more since then; the last: {detail}"
            ),
        }
    }
}

#[derive(Debug)]
struct Window {
    /// When the last line of this key was returned.
    reported_at: DateTime<Utc>,
    /// Failures since then.
    count: u64,
    last: String,
}

/// Failures per (channel, kind) since each one's last line.
#[derive(Debug)]
pub struct FailureLog {
    every: Duration,
    open: BTreeMap<(ChannelKind, FailureKind), Window>,
}

impl FailureLog {
    /// Summarises at most once per `every`.
    pub fn new(every: Duration) -> FailureLog {
        FailureLog {
            every,
            open: BTreeMap::new(),
        }
    }

    /// Counts one failure; returns the line to log now, if any.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        channel: ChannelKind,
        kind: FailureKind,
        detail: &str,
    ) -> Option<Line> {
        self.expire(now);
        match self.open.get_mut(&(channel, kind)) {
            None => {
                self.open.insert(
                    (channel, kind),
                    Window {
                        reported_at: now,
                        count: 0,
                        last: String::new(),
                    },
                );
                Some(Line::First {
                    channel,
                    kind,
                    detail: detail.to_string(),
                })
            }
            Some(w) => {
                w.count += 1;
                w.last = detail.to_string();
                (now - w.reported_at >= self.every).then(|| summary(channel, kind, w, now))
            }
        }
    }

    /// Summaries that are due although no failure came since: call now and then (the
    /// scheduler does after every round), so that the count of an outage's end is told.
    pub fn flush(&mut self, now: DateTime<Utc>) -> Vec<Line> {
        let every = self.every;
        let lines = self
            .open
            .iter_mut()
            .filter(|(_, w)| w.count > 0 && now - w.reported_at >= every)
            .map(|((channel, kind), w)| summary(*channel, *kind, w, now))
            .collect();
        self.expire(now);
        lines
    }

    /// Forgets keys with nothing to tell for a whole period: the next failure is a first one.
    fn expire(&mut self, now: DateTime<Utc>) {
        let every = self.every;
        self.open
            .retain(|_, w| w.count > 0 || now - w.reported_at < every);
    }
}

fn summary(channel: ChannelKind, kind: FailureKind, w: &mut Window, now: DateTime<Utc>) -> Line {
    let line = Line::Summary {
        channel,
        kind,
        count: w.count,
        since: w.reported_at,
        detail: std::mem::take(&mut w.last),
    };
    w.count = 0;
    w.reported_at = now;
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(s)
    }

    /// What gets logged for failures at these seconds (one channel and kind unless given).
    fn lines(failures: &[(i64, ChannelKind, FailureKind)], flush_at: &[i64]) -> Vec<String> {
        let mut log = FailureLog::new(Duration::seconds(60));
        let mut out = Vec::new();
        let mut flushes = flush_at.iter().peekable();
        for (i, (s, channel, kind)) in failures.iter().enumerate() {
            while let Some(f) = flushes.next_if(|f| **f <= *s) {
                out.extend(log.flush(t(*f)));
            }
            out.extend(log.record(t(*s), *channel, *kind, &format!("e{i}")));
        }
        for f in flushes {
            out.extend(log.flush(t(*f)));
        }
        out.iter()
            .map(|l| match l {
                Line::First {
                    channel,
                    kind,
                    detail,
                } => format!("first {} {} {detail}", channel.as_str(), kind.as_str()),
                Line::Summary {
                    channel,
                    kind,
                    count,
                    since,
                    detail,
                } => format!(
                    "summary {} {} {count} since {} last {detail}",
                    channel.as_str(),
                    kind.as_str(),
                    since.timestamp()
                ),
            })
            .collect()
    }

    use ChannelKind::{Email, Ntfy};
    use FailureKind::{Dead, Transient};

    #[test]
    fn an_outage_of_466_failures_in_a_minute_is_two_lines() {
        // 233 messages, each failing twice within a minute; the flush a minute later tells the rest.
        let failures: Vec<_> = (0..466).map(|i| (i * 59 / 466, Email, Transient)).collect();
        assert_eq!(
            lines(&failures, &[65]),
            [
                "first email transient e0",
                "summary email transient 465 since 0 last e465"
            ]
        );
    }

    #[test]
    fn a_summary_at_most_once_per_period_per_channel_and_kind() {
        let failures = [
            (0, Email, Transient),
            (1, Ntfy, Transient),
            (2, Email, Dead),
            (10, Email, Transient),
            (50, Ntfy, Transient),
            (59, Email, Transient),
            (60, Email, Transient),
            (61, Ntfy, Transient),
            (90, Email, Transient),
        ];
        assert_eq!(
            lines(&failures, &[]),
            [
                "first email transient e0",
                "first ntfy transient e1",
                "first email dead e2",
                "summary email transient 3 since 0 last e6",
                "summary ntfy transient 2 since 1 last e7",
            ]
        );
    }

    #[test]
    fn after_a_quiet_period_a_failure_is_first_again() {
        let failures = [
            (0, Email, Transient),
            (30, Email, Transient),
            (200, Email, Transient),
            (400, Email, Transient),
        ];
        assert_eq!(
            lines(&failures, &[100]),
            [
                "first email transient e0",
                "summary email transient 1 since 0 last e1",
                // At 100 the summary was told; by 200 a whole period was quiet.
                "first email transient e2",
                "first email transient e3",
            ]
        );
    }

    #[test]
    fn a_flush_before_the_period_tells_nothing() {
        let failures = [(0, Email, Transient), (5, Email, Transient)];
        assert_eq!(
            lines(&failures, &[30, 59]),
            ["first email transient e0"],
            "the count waits for the period"
        );
        assert_eq!(
            lines(&failures, &[30, 60]),
            [
                "first email transient e0",
                "summary email transient 1 since 0 last e1"
            ]
        );
    }
}
