//! The release loop: sleep until the earliest due notice (or until woken), claim what is due
//! in (school, recipient, channel) groups, render each claimed message (the store fixed its
//! notices and key in the claim: [`crate::store::outbox`]), send, and record the outcome. The
//! daemon and `simulate` share [`Dispatcher::run_due`].

mod background;
mod delivery;
mod prepare;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::sync::watch;

pub use crate::store::outbox::message_key;

use crate::clock::Clock;
use crate::config::DeliveryConfig;
use crate::model::{ChannelKind, Event};
use crate::observe::laps::Laps;
use crate::observe::metrics;
use crate::policy::{release, NoticeKind};
use crate::render::Renderer;
use crate::send::failure_log::{FailureKind, FailureLog};
use crate::send::{Channels, Delivery, Outgoing, SendError};
use crate::shared::Shared;
use crate::store::{Outcome, Store, StoreError, StoredNotice};

/// A message that was handed over, for observers (`simulate`, tests, metrics).
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub at: DateTime<Utc>,
    pub outgoing: Outgoing,
    pub notices: Vec<StoredNotice>,
}

pub type Observer = Arc<dyn Fn(&SentMessage) + Send + Sync>;

/// One claim's messages, rendered, with what sending them needs.
struct Round {
    /// The claimed notices, one group per message, in (school, recipient, channel) order.
    groups: Vec<Vec<StoredNotice>>,
    /// `[i]` is `groups[i]`'s message.
    prepared: Vec<Result<Outgoing, String>>,
    events: HashMap<String, Event>,
    /// When it was claimed (the lease runs from here).
    at: DateTime<Utc>,
}

/// A claimed round whose messages are being rendered.
type Rendering = tokio::task::JoinHandle<Round>;

/// The events of the notices told before that corrections and withdrawals refer to, read
/// into `events` too.
async fn previous_events(
    store: &dyn Store,
    notices: &[StoredNotice],
    events: &mut HashMap<String, Event>,
) -> Result<HashMap<i64, String>, StoreError> {
    let mut previous = HashMap::new();
    for n in notices
        .iter()
        .filter(|n| matches!(n.kind, NoticeKind::Correction | NoticeKind::Withdrawal))
    {
        if let Some(id) = store
            .previously_delivered(&n.school, &n.record, &n.recipient, &n.event_id)
            .await?
        {
            previous.insert(n.id, id);
        }
    }
    let missing: Vec<String> = previous
        .values()
        .filter(|id| !events.contains_key(*id))
        .cloned()
        .collect();
    if !missing.is_empty() {
        events.extend(store.events(&missing).await?);
    }
    Ok(previous)
}

/// How long before a release the loop wakes to ready its notices ([`Store::prepare_due`]):
/// merging a night's backlog takes a second or two, which the first messages of the morning
/// would otherwise wait for.
const GET_READY: Duration = Duration::seconds(60);

/// The release's phases, in the order of [`ReleaseTimes`]' fields.
const CLAIM: usize = 0;
const LOAD: usize = 1;
const WAIT: usize = 2;
const RENDER: usize = 3;
const SEND: usize = 4;

pub struct Dispatcher {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    channels: Channels,
    renderer: Arc<Renderer>,
    clock: Arc<dyn Clock>,
    observer: Option<Observer>,
    /// Signs the personal preference link of email and webhook messages (`[preferences]`).
    pub links: Option<Arc<crate::prefs::links::LinkMaker>>,
    /// How long a claim holds before another instance (or a restart) may take it over.
    pub lease: Duration,
    /// Groups claimed per round trip to the store.
    pub batch_groups: u32,
    /// Failed sends, logged as a summary per channel and kind (not a line per message).
    failures: std::sync::Mutex<FailureLog>,
    /// Where the release's time went (claim, load, render, send); `rustig bench` prints it.
    laps: Arc<Laps<5>>,
    /// Claims that returned notices, since start.
    claims: std::sync::atomic::AtomicU64,
}

/// Seconds the release loop spent per phase since start, and the claims it made.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ReleaseTimes {
    /// Claims that returned notices.
    pub claims: u64,
    /// Claiming: merging due notices, reading them, recording their messages (one commit).
    /// Runs while the round before is sent.
    pub claim: f64,
    /// Reading the claimed notices' events (also ahead).
    pub load: f64,
    /// Waiting for the next round (claimed, read and rendered) after sending one: what
    /// readying a round still costs.
    pub wait: f64,
    /// Rendering the messages (also ahead).
    pub render: f64,
    /// Sending, and recording the outcomes.
    pub send: f64,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        shared: Arc<Shared>,
        channels: Channels,
        renderer: Arc<Renderer>,
        clock: Arc<dyn Clock>,
    ) -> Dispatcher {
        Dispatcher {
            store,
            shared,
            channels,
            renderer,
            clock,
            observer: None,
            links: None,
            lease: Duration::minutes(5),
            batch_groups: crate::config::DEFAULT_CLAIM_GROUPS,
            failures: std::sync::Mutex::new(FailureLog::new(Duration::seconds(60))),
            laps: Arc::default(),
            claims: Default::default(),
        }
    }

    /// Time per phase of the release since start.
    pub fn release_times(&self) -> ReleaseTimes {
        let [claim, load, wait, render, send] = self.laps.seconds();
        ReleaseTimes {
            claims: self.claims.load(std::sync::atomic::Ordering::Relaxed),
            claim,
            load,
            wait,
            render,
            send,
        }
    }

    /// Counts a failed send; logs it when it is the first of its kind or a summary is due.
    /// The message's own line (with its key) is at debug level.
    fn failed(&self, now: DateTime<Utc>, channel: ChannelKind, kind: FailureKind, detail: &str) {
        let line = self
            .failures
            .lock()
            .expect("failure log lock")
            .record(now, channel, kind, detail);
        if let Some(line) = line {
            line.log(self.shared.config().default_policy.calendar.tz);
        }
    }

    pub fn observe(mut self, f: Observer) -> Dispatcher {
        self.observer = Some(f);
        self
    }

    /// Runs until `stop` turns true: sleeps until the next due instant or a wake-up, then
    /// sends what is due. In-flight sends finish before it returns.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let result = self.run_due(self.clock.now(), Some(&stop)).await;
            let summaries = self
                .failures
                .lock()
                .expect("failure log lock")
                .flush(self.clock.now());
            let tz = self.shared.config().default_policy.calendar.tz;
            summaries.iter().for_each(|l| l.log(tz));
            if let Err(e) = result {
                tracing::error!(error = %e, "dispatching failed; retrying shortly");
                let pause = self.clock.now() + Duration::seconds(5);
                tokio::select! {
                    _ = self.clock.sleep_until(pause) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            let next = match self.store.next_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next due time failed");
                    Some(self.clock.now() + Duration::seconds(5))
                }
            };
            let next = match next {
                Some(t) => Some(self.get_ready(t).await),
                None => None,
            };
            let wake = self.shared.wake.notified();
            tokio::select! {
                _ = async {
                    match next {
                        Some(t) => self.clock.sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {}
                _ = wake => {}
                // Another instance on the same database planned something.
                _ = self.store.changed() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// When to wake for a release due at `due`: [`GET_READY`] before it, to have the store
    /// ready its notices for the claim; once within that, after readying them, at `due`.
    async fn get_ready(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let now = self.clock.now();
        if due - now > GET_READY {
            return due - GET_READY;
        }
        match self.store.prepare_due(now + GET_READY).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(notices = n, "readied for their release"),
            // The claim merges them itself; it only starts a little later.
            Err(e) => {
                tracing::warn!(error = %e, "readying due notices ahead of their release failed")
            }
        }
        due
    }

    /// Sends every message due at `now`. Returns how many messages were handed over.
    pub async fn run_due(
        &self,
        now: DateTime<Utc>,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<usize, StoreError> {
        let mut sent = 0;
        let stopping = || stop.is_some_and(|s| *s.borrow());
        // The next round is claimed, its events read and its messages rendered while this one
        // is sent: the store's work, the rendering and the sending overlap. Rounds are still sent one after the other,
        // so a round's checks (the daily cap) see every message of the rounds before it.
        let mut ahead: Option<tokio::task::JoinHandle<Result<Option<Rendering>, StoreError>>> =
            None;
        // Only while rounds are quick: a round claimed ahead of a slow one would find much of
        // its lease gone before its first send.
        let quick = (self.lease / 8).to_std().unwrap_or_default();
        let mut last_round = std::time::Duration::ZERO;
        loop {
            // Whether the round was claimed after every round before it was recorded.
            let fresh = ahead.is_none();
            let task = match ahead.take() {
                Some(task) => task,
                None if stopping() => return Ok(sent),
                None => self.claim_ahead(now),
            };
            let clock = std::time::Instant::now();
            let rendering = task
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            let Some(rendering) = rendering else {
                if fresh {
                    return Ok(sent);
                }
                // Claimed before the last round's outcomes were in: what they made due (an
                // email fallback, say) is claimed now.
                continue;
            };
            // A round already claimed is sent even when stopping: its lease would hold it back.
            // The next claim starts while this round's messages may still be rendering.
            if !stopping() && last_round < quick {
                ahead = Some(self.claim_ahead(now));
            }
            let round = rendering
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            if !fresh {
                self.laps.lap(WAIT, clock);
            }
            let round_start = std::time::Instant::now();
            let Round {
                groups,
                prepared,
                events,
                at,
            } = round;
            self.claims
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::claim_batch(groups.iter().map(Vec::len).sum());
            let clock = std::time::Instant::now();
            let delivery = self.shared.config().delivery.clone();
            // Outcomes are recorded while the batch is still sending, each record taking what
            // has arrived, up to what the store takes at once: after a crash (or a lease taken
            // over) only the sends in flight can go out again, not everything sent since the
            // claim.
            let record_at_most = self.store.record_at_most(groups.len()).max(1);
            // A send starts only in the first half of the lease, so that it ends before another
            // instance may take the group over; what is left waits for the lease to run out.
            let send_by = at + self.lease / 2;
            let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
            let sending = async move {
                let (events, delivery) = (&events, &delivery);
                let left = stream::iter(groups.into_iter().zip(prepared))
                    .take_while(|_| std::future::ready(!done.is_closed()))
                    .map(|(g, outgoing)| async move {
                        // The one clock reading for this group's decisions.
                        let now = self.clock.now();
                        if now >= send_by {
                            return None;
                        }
                        Some(self.deliver(g, outgoing, events, delivery, now).await)
                    })
                    .buffer_unordered(delivery.concurrency)
                    .fold(0, |left, o| {
                        let left = match o {
                            Some(o) => {
                                // Fails only when recording stopped; its error is returned below.
                                let _ = done.send(o);
                                left
                            }
                            None => left + 1,
                        };
                        std::future::ready(left)
                    })
                    .await;
                if left > 0 {
                    tracing::warn!(
                        groups = left,
                        "half the lease passed before these messages could start; they go out \
                         after it ends (raise [delivery] lease or lower batch)"
                    );
                }
            };
            let recording = async move {
                let mut recorded = 0;
                let mut outcomes: Vec<(Vec<i64>, Outcome)> = Vec::new();
                while results.recv_many(&mut outcomes, record_at_most).await > 0 {
                    self.store.finish(&outcomes).await?;
                    recorded += outcomes
                        .iter()
                        .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
                        .count();
                    outcomes.clear();
                }
                Ok::<usize, StoreError>(recorded)
            };
            let (_, recorded) = tokio::join!(sending, recording);
            self.laps.lap(SEND, clock);
            last_round = round_start.elapsed();
            sent += recorded?;
        }
    }

    /// Starts claiming the next round in a task of its own, at the clock's time (or `now`,
    /// if later): the lease runs from the clock, not from `now`, or batches claimed late in a
    /// long run would expire at once and be taken over by another instance. The task also
    /// reads the round's events and renders its messages ([`prepare`]), beside the sends of
    /// the round before.
    fn claim_ahead(
        &self,
        now: DateTime<Utc>,
    ) -> tokio::task::JoinHandle<Result<Option<Rendering>, StoreError>> {
        let at = self.clock.now().max(now);
        let (store, laps, lease, groups) = (
            self.store.clone(),
            self.laps.clone(),
            self.lease,
            self.batch_groups,
        );
        let preparer = prepare::Preparer {
            shared: self.shared.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
            links: self.links.clone(),
        };
        tokio::spawn(async move {
            let clock = std::time::Instant::now();
            let claimed = store.claim_due(at, at + lease, groups).await?;
            let clock = laps.lap(CLAIM, clock);
            if claimed.is_empty() {
                return Ok(None);
            }
            let ids: Vec<String> = claimed
                .iter()
                .map(|n| n.event_id.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut events = store.events(&ids).await?;
            let previous = previous_events(&*store, &claimed, &mut events).await?;
            let clock = laps.lap(LOAD, clock);
            // One message per outbox row, in (school, recipient, channel) order.
            let mut groups: BTreeMap<
                (String, String, &'static str, Option<i64>),
                Vec<StoredNotice>,
            > = BTreeMap::new();
            for n in claimed {
                groups
                    .entry((
                        n.school.clone(),
                        n.recipient.clone(),
                        n.channel.as_str(),
                        n.message_id,
                    ))
                    .or_default()
                    .push(n);
            }
            let groups: Vec<Vec<StoredNotice>> = groups.into_values().collect();
            // Rendered on all cores beside the sends of the round before: they wait on the
            // network, and the claim of the round after need not wait for this.
            let rendering = tokio::task::spawn_blocking(move || {
                let prepared = preparer.prepare_all(&groups, &events, &previous);
                laps.lap(RENDER, clock);
                Round {
                    groups,
                    prepared,
                    events,
                    at,
                }
            });
            Ok(Some(rendering))
        })
    }

    /// Sends one group's message (rendered by `prepare_all`); never fails, the outcome says
    /// what happened. The decisions are the release step's (`policy::release`), all taken at
    /// `now`; this asks the store for the facts, sends, and stores an email fallback.
    async fn deliver(
        &self,
        mut group: Vec<StoredNotice>,
        prepared: Result<Outgoing, String>,
        events: &HashMap<String, Event>,
        delivery: &DeliveryConfig,
        now: DateTime<Utc>,
    ) -> (Vec<i64>, Outcome) {
        let config = self.shared.config();
        let policy = config.policy(&group[0].school);
        let rules = delivery.release_rules();
        let ids: Vec<i64> = group.iter().map(|n| n.id).collect();
        let facts = |key| release::Group {
            channel: group[0].channel,
            role: group[0].role,
            key,
            attempts: group.iter().map(|n| n.attempts).max().unwrap_or(0),
            first_due: delivery::first_due(&group, events),
        };
        let outgoing = match prepared {
            Ok(o) => o,
            Err(error) => {
                tracing::debug!(
                    channel = group[0].channel.as_str(),
                    notices = group.len(),
                    "message dead: {error}"
                );
                self.failed(now, group[0].channel, FailureKind::Dead, &error);
                let decision = release::give_up(&facts(""), error, policy, &rules, now);
                return (ids, self.record(&group, decision, now).await);
            }
        };
        let g = facts(&outgoing.key);
        if let Some(decision) = release::expired(&g, &rules, now) {
            if let release::Decision::Dead { error } = &decision {
                tracing::debug!(key = %outgoing.key, channel = outgoing.channel.as_str(), "message dead: {error}");
                self.failed(now, outgoing.channel, FailureKind::Dead, error);
            }
            return (ids, self.record(&group, decision, now).await);
        }
        if let Some(since) = release::cap_since(policy, now) {
            let first = &group[0];
            let sent = match self
                .store
                .messages_sent_since(&first.school, &first.recipient, first.channel, since)
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    let error = format!("checking the daily cap: {e}");
                    let at = now + Duration::seconds(30);
                    return (ids, Outcome::Retry { error, at });
                }
            };
            if let Some(decision) = release::over_cap(&g, policy, sent, now) {
                tracing::info!(
                    channel = first.channel.as_str(),
                    sent,
                    "daily cap reached; deferred to the next day"
                );
                return (ids, self.record(&group, decision, now).await);
            }
        }
        let Some(channel) = self.channels.get(outgoing.channel) else {
            let error = format!("channel {} is not configured", outgoing.channel.as_str());
            let decision = release::give_up(&g, error, policy, &rules, now);
            return (ids, self.record(&group, decision, now).await);
        };
        let started = std::time::Instant::now();
        let Delivery { result, gone } = channel.deliver(&outgoing).await;
        let took = started.elapsed();
        match &result {
            Ok(()) => metrics::sent(outgoing.channel, took),
            Err(e) => {
                metrics::send_failed(outgoing.channel, matches!(e, SendError::Permanent(_)), took)
            }
        }
        if !gone.is_empty() {
            metrics::gone(outgoing.channel, gone.len());
            if let Err(e) = delivery::record_gone(
                &*self.store,
                &self.shared,
                &outgoing.school,
                &outgoing.recipient,
                &gone,
                now,
            )
            .await
            {
                tracing::error!(error = %e, "recording gone contacts failed");
            }
        }
        // The channel's own words, for the failure log.
        let detail = match &result {
            Ok(()) => String::new(),
            Err(SendError::Permanent(m)) | Err(SendError::Transient { message: m, .. }) => {
                m.clone()
            }
        };
        let answer = match result {
            Ok(()) => release::Answer::Delivered,
            Err(SendError::Permanent(error)) => {
                tracing::debug!(key = %outgoing.key, channel = outgoing.channel.as_str(), "permanent failure: {error}");
                self.failed(now, outgoing.channel, FailureKind::Permanent, &error);
                release::Answer::Permanent(error)
            }
            Err(SendError::Transient {
                message,
                retry_after,
            }) => release::Answer::Transient {
                message,
                retry_after,
            },
        };
        let permanent = matches!(answer, release::Answer::Permanent(_));
        let decision = release::after_send(&g, answer, policy, &rules, now);
        let attempts = g.attempts + 1;
        match &decision {
            release::Decision::Sent { at } => {
                if let Some(due) = group.iter().map(|n| n.due_at).min() {
                    metrics::lateness(outgoing.channel, *at - due);
                }
                tracing::info!(key = %outgoing.key, channel = outgoing.channel.as_str(), role = outgoing.role.as_str(), notices = group.len(), "message sent");
                if let Some(obs) = &self.observer {
                    // Lent, not copied: the bench observes every message of a release.
                    let sent = SentMessage {
                        at: *at,
                        outgoing,
                        notices: std::mem::take(&mut group),
                    };
                    obs(&sent);
                    group = sent.notices;
                }
            }
            release::Decision::Retry { at, .. } => {
                tracing::debug!(key = %outgoing.key, channel = outgoing.channel.as_str(), attempts, retry_in = %crate::model::time::human(*at - now), "transient failure: {detail}");
                self.failed(now, outgoing.channel, FailureKind::Transient, &detail);
            }
            release::Decision::Dead { error } if !permanent => {
                tracing::debug!(key = %outgoing.key, attempts, "giving up: {error}");
                self.failed(now, outgoing.channel, FailureKind::Dead, &detail);
            }
            _ => {}
        }
        (ids, self.record(&group, decision, now).await)
    }

    /// The outcome the store records for a decision, counting a dead message.
    async fn record(
        &self,
        group: &[StoredNotice],
        decision: release::Decision,
        now: DateTime<Utc>,
    ) -> Outcome {
        let outcome = self.outcome(group, decision, now).await;
        if matches!(outcome, Outcome::Dead { .. }) {
            metrics::dead(group[0].channel);
        }
        outcome
    }

    /// The outcome the store records for a decision; an email fallback stores its new
    /// notices first (a crash in between only repeats the same no-op insert).
    async fn outcome(
        &self,
        group: &[StoredNotice],
        decision: release::Decision,
        now: DateTime<Utc>,
    ) -> Outcome {
        match decision {
            release::Decision::Sent { at } => Outcome::Sent {
                message_key: group_key(group),
                at,
            },
            release::Decision::Retry { at, error } => Outcome::Retry { error, at },
            release::Decision::Dead { error } => Outcome::Dead { error },
            release::Decision::Defer { reason } => Outcome::Defer { reason },
            release::Decision::FallBack { at, why, error } => {
                let notices =
                    delivery::fallback_notices(group, &self.shared.sending_directory(), at, &why);
                if notices.is_empty() {
                    return Outcome::Dead { error };
                }
                match self.store.add_notices(&notices).await {
                    Ok(added) => {
                        tracing::info!(
                            channel = group[0].channel.as_str(),
                            notices = notices.len(),
                            added,
                            "push failed; falling back to email"
                        );
                        self.shared.wake.notify_one();
                        Outcome::Dead {
                            error: format!("{error}; sent by email instead"),
                        }
                    }
                    Err(e) => Outcome::Retry {
                        error: format!("{error}; storing the email fallback failed: {e}"),
                        at: now + Duration::seconds(30),
                    },
                }
            }
        }
    }
}

/// A group's message key: the one the claim recorded (a store that claimed without one: from
/// the notices).
fn group_key(group: &[StoredNotice]) -> String {
    group[0]
        .message_key
        .clone()
        .unwrap_or_else(|| message_key(group.iter().map(|n| n.key.as_str())))
}
