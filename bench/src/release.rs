//! Release measurement: the real dispatcher loop (`Dispatcher::run`: sleep until the next
//! due instant, claim, group, render, send, record) on a prepared store, with every notice
//! due at one instant a few seconds after the loop starts, timed on the wall clock.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use super::BenchError;
use rustig::clock::{Clock, SystemClock};
use rustig::model::ChannelKind;
use rustig::render::Renderer;
use rustig::scheduler::{Dispatcher, ReleaseTimes, SentMessage};
use rustig::send::{Channel, Channels};
use rustig::shared::Shared;
use rustig::store::{Counts, Store};

/// The wall clock shifted by a constant: it runs at real speed, and reads `due - lead` at
/// the moment it is made. The prepared notices are due on a Monday days ahead; this makes
/// them due `lead` from now without touching the store.
pub struct ShiftedClock {
    offset: Duration,
}

impl ShiftedClock {
    pub fn due_in(due: DateTime<Utc>, lead: Duration) -> ShiftedClock {
        ShiftedClock {
            offset: (due - lead) - Utc::now(),
        }
    }
}

#[async_trait]
impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        SystemClock.sleep_until(t - self.offset).await
    }
}

/// One release run.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseResult {
    /// `null` (a line per message in a file) or `smtp`.
    pub sink: &'static str,
    /// Pending notices when the run started.
    pub pending_before: i64,
    /// Notices handed over (each message carries one or more).
    pub notices: u64,
    pub messages: u64,
    /// From the due instant to the last message handed over.
    pub seconds: f64,
    pub notices_per_s: f64,
    pub messages_per_s: f64,
    /// Per notice: handed over minus due_at.
    pub lateness_p50_ms: f64,
    pub lateness_p99_ms: f64,
    pub lateness_max_ms: f64,
    /// Lines the null sink wrote, or messages the SMTP server accepted.
    pub sink_received: u64,
    /// Store totals afterwards.
    pub after: Counts,
    /// Where the release loop's time went.
    pub phases: ReleaseTimes,
}

#[derive(Default)]
struct Tally {
    notices: u64,
    messages: u64,
    /// Lateness of each notice, in microseconds.
    lateness_us: Vec<i64>,
    last: Option<DateTime<Utc>>,
}

/// `p` in 0..=100 of sorted values (nearest rank).
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a release needs besides the sink.
pub struct Setup {
    pub store: Arc<dyn Store>,
    pub shared: Arc<Shared>,
    pub due: DateTime<Utc>,
    /// How long after the dispatcher starts the notices become due.
    pub lead: Duration,
    /// Give up after this long (an error: something was not released).
    pub limit: StdDuration,
}

/// Runs the dispatcher with `channel` for email until every pending notice is handed over.
/// `received` reads the sink's own count afterwards.
pub async fn run(
    setup: Setup,
    sink: &'static str,
    channel: Arc<dyn Channel>,
    received: impl Fn() -> u64,
) -> Result<ReleaseResult, BenchError> {
    let before = setup.store.counts().await?;
    let expected = before.pending as u64;
    let renderer = Arc::new(Renderer::load(
        setup.shared.config().templates_dir.as_deref(),
    )?);
    let clock = Arc::new(ShiftedClock::due_in(setup.due, setup.lead));
    let tally = Arc::new(Mutex::new(Tally {
        lateness_us: Vec::with_capacity(expected as usize),
        ..Tally::default()
    }));
    let done = Arc::new(Notify::new());
    let observer = {
        let (tally, done) = (tally.clone(), done.clone());
        Arc::new(move |m: &SentMessage| {
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.messages += 1;
            t.notices += m.notices.len() as u64;
            for n in &m.notices {
                let late = (m.at - n.due_at).num_microseconds().unwrap_or(i64::MAX);
                t.lateness_us.push(late);
            }
            t.last = t.last.max(Some(m.at));
            if t.notices >= expected {
                done.notify_one();
            }
        })
    };
    let channels = Channels::default().with(ChannelKind::Email, channel);
    let delivery = setup.shared.config().delivery.clone();
    let mut dispatcher = Dispatcher::new(
        setup.store.clone(),
        setup.shared.clone(),
        channels,
        renderer,
        clock,
    )
    .observe(observer);
    dispatcher.lease = delivery.lease;
    dispatcher.batch_groups = delivery.batch;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let dispatcher = Arc::new(dispatcher);
    let running = dispatcher.clone();
    let task = tokio::spawn(async move { running.run(stop_rx).await });
    let finished = expected == 0
        || tokio::time::timeout(setup.limit, done.notified())
            .await
            .is_ok();
    let _ = stop.send(true);
    task.await
        .map_err(|e| BenchError::Check(format!("dispatcher task: {e}")))?;
    let after = setup.store.counts().await?;
    let mut t = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    if !finished {
        return Err(BenchError::Check(format!(
            "{sink} release: {} of {expected} notices handed over within {:?}",
            t.notices, setup.limit
        )));
    }
    t.lateness_us.sort_unstable();
    let seconds = t
        .last
        .map(|l| (l - setup.due).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .unwrap_or(0.0);
    let rate = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let ms = |us: i64| us as f64 / 1000.0;
    Ok(ReleaseResult {
        sink,
        pending_before: before.pending,
        notices: t.notices,
        messages: t.messages,
        seconds,
        notices_per_s: rate(t.notices),
        messages_per_s: rate(t.messages),
        lateness_p50_ms: ms(percentile(&t.lateness_us, 50.0)),
        lateness_p99_ms: ms(percentile(&t.lateness_us, 99.0)),
        lateness_max_ms: ms(t.lateness_us.last().copied().unwrap_or(0)),
        sink_received: received(),
        after,
        phases: dispatcher.release_times(),
    })
}
