//! The release step: what becomes of a claimed group of notices (one message to one
//! recipient on one channel), as a function of the facts the store supplied, the channel's
//! answer, the school's policy, the `[delivery]` rules and `now`. The scheduler reads the
//! clock once per group, gathers the facts, sends, and records what these functions decide;
//! nothing here does IO, so retries, the daily cap, `max_age` and the email fallback have
//! table tests like the planner.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::time::human;
use crate::model::{ChannelKind, Role};
use crate::policy::calendar::resolve_local;
use crate::policy::{Policy, Reason, Rule};

/// `[delivery]` as the release step reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A message not delivered this long after it was first due is dead.
    pub max_age: Duration,
    /// `fallback = "email"`: a push message that cannot be delivered goes by email.
    pub email_fallback: bool,
}

/// A claimed group, and what the store knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub channel: ChannelKind,
    pub role: Role,
    /// The message's key: it spreads the retries of messages that failed together.
    pub key: &'a str,
    /// Attempts so far (the most of the group's notices).
    pub attempts: u32,
    /// When the group was first due; `max_age` counts from here.
    pub first_due: DateTime<Utc>,
}

/// The channel's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// Retrying cannot help; also a message that could not be rendered or has no channel.
    Permanent(String),
    Transient {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
}

/// What the scheduler records for the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Sent {
        at: DateTime<Utc>,
    },
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Dead {
        error: String,
    },
    /// Not attempted: waits until `reason.to`, with the reason appended.
    Defer {
        reason: Reason,
    },
    /// A push message that cannot be delivered: the same notices go by email at `at` (with
    /// `why` in their reasons), and the push notices are dead with `error`. Without an email
    /// address it is simply dead.
    FallBack {
        at: DateTime<Utc>,
        why: String,
        error: String,
    },
}

/// Dead before the send when the group is older than `max_age`.
pub fn expired(group: &Group, rules: &Rules, now: DateTime<Utc>) -> Option<Decision> {
    (now - group.first_due > rules.max_age).then(|| Decision::Dead {
        error: format!(
            "not delivered within max_age ({}) of {}",
            human(rules.max_age),
            group.first_due.to_rfc3339()
        ),
    })
}

/// From when the messages that count against the school's daily cap are counted (local
/// midnight of `now`); `None` when the school has no cap.
pub fn cap_since(policy: Option<&Policy>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let policy = policy?;
    policy.digest.max_per_day?;
    let cal = &policy.calendar;
    let today = now.with_timezone(&cal.tz).date_naive();
    Some(resolve_local(cal.tz, today.and_time(NaiveTime::MIN)))
}

/// With `digest.max_per_day` messages already sent today (`sent_today`, counted from
/// [`cap_since`]), the group waits for the first allowed slot of the next local day, where
/// it is bundled with what else is due.
pub fn over_cap(
    group: &Group,
    policy: Option<&Policy>,
    sent_today: i64,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let policy = policy?;
    let cap = policy.digest.max_per_day?;
    if sent_today < cap as i64 {
        return None;
    }
    let cal = &policy.calendar;
    let today = now.with_timezone(&cal.tz).date_naive();
    let tomorrow = resolve_local(cal.tz, (today + Duration::days(1)).and_time(NaiveTime::MIN));
    let schedule = match group.role {
        Role::Student => &policy.digest.students,
        Role::Guardian => &policy.digest.guardians,
    };
    let mut at = cal.next_allowed(tomorrow, &mut vec![]).unwrap_or(tomorrow);
    if let Ok(Some(slot)) = schedule.next_slot(at, cal) {
        at = slot;
    }
    Some(Decision::Defer {
        reason: Reason::moved(Rule::DailyCap, now, at, format!("{cap} message(s) a day")),
    })
}

/// After the send: sent; retried after a backoff (and never inside quiet hours, weekend or
/// holidays); or, out of attempts, past `max_age` or refused for good, dead or sent by email.
pub fn after_send(
    group: &Group,
    answer: Answer,
    policy: Option<&Policy>,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Decision {
    let attempts = group.attempts + 1;
    match answer {
        Answer::Delivered => Decision::Sent { at: now },
        Answer::Permanent(error) => give_up(group, error, policy, rules, now),
        Answer::Transient {
            message,
            retry_after,
        } if attempts < rules.max_attempts => {
            let wait = backoff(rules, attempts, group.key).max(
                retry_after
                    .and_then(|d| Duration::from_std(d).ok())
                    .unwrap_or_else(Duration::zero),
            );
            let retry_at = next_allowed(policy, now + wait);
            if retry_at - group.first_due > rules.max_age {
                return Decision::Dead {
                    error: format!(
                        "not delivered within max_age ({}): {message}",
                        human(rules.max_age)
                    ),
                };
            }
            Decision::Retry {
                at: retry_at,
                error: message,
            }
        }
        Answer::Transient { message, .. } => Decision::Dead {
            error: format!("after {attempts} attempts: {message}"),
        },
    }
}

/// A message that cannot be delivered: dead, or with `fallback = "email"` a push message
/// goes by email at the next allowed instant.
pub fn give_up(
    group: &Group,
    error: String,
    policy: Option<&Policy>,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Decision {
    if !rules.email_fallback || !group.channel.is_push() {
        return Decision::Dead { error };
    }
    Decision::FallBack {
        at: next_allowed(policy, now),
        why: format!("{} failed: {error}", group.channel.as_str()),
        error,
    }
}

/// Exponential from `retry_base`, capped at `retry_max`, plus up to 20 % spread by the key
/// and attempt, so messages that failed together do not retry together.
pub fn backoff(rules: &Rules, attempts: u32, key: &str) -> Duration {
    let exp = rules.retry_base * 2i32.saturating_pow(attempts.saturating_sub(1).min(20));
    let base = exp.min(rules.retry_max);
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(attempts.to_be_bytes());
    let spread = h.finalize()[0] as i64 * 20 / 255;
    base + base * spread as i32 / 100
}

/// The first instant at or after `t` the school's calendar allows (`t` without a policy).
fn next_allowed(policy: Option<&Policy>, t: DateTime<Utc>) -> DateTime<Utc> {
    policy
        .and_then(|p| p.calendar.next_allowed(t, &mut vec![]).ok())
        .unwrap_or(t)
}
