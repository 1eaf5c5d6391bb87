//! `rustig simulate`: replays events on a virtual clock through the daemon's own ingest,
//! store (in memory), scheduler and renderer, and reports each message that would go out.
//! Deterministic: the same input gives the same output.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::ingest::{check_school, Ingestor};
use crate::model::{ChannelKind, Directory, Event, EventError};
use crate::render::Renderer;
use crate::scheduler::{Dispatcher, SentMessage};
use crate::send::{Channels, Discard};
use crate::shared::Shared;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Stop at this instant even if notices are still pending.
    pub until: Option<DateTime<Utc>>,
    /// Also report suppressed notices and why.
    pub explain: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
}

/// What a run produced: output lines (ordered by `at`) and input problems (by line).
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<Value>,
    pub input_errors: Vec<String>,
}

/// `2026-11-23T11:05:00+01:00` in the school's zone.
pub fn local_rfc3339(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Parses NDJSON events; returns (line number, raw, parsed) for every non-empty line.
pub fn parse_events(
    config: &Config,
    ndjson: &[u8],
) -> Vec<(usize, Vec<u8>, Result<Event, EventError>)> {
    crate::model::ndjson::lines(ndjson)
        .map(|(n, l)| {
            // Replayed at its own occurred_at: only the lower bound can fail.
            let parsed = Event::parse(l)
                .and_then(|e| {
                    let at = e.occurred_utc();
                    e.check_received(at)
                })
                .and_then(|e| check_school(config, e));
            (n, l.to_vec(), parsed)
        })
        .collect()
}

pub async fn run(
    config: Config,
    directory: Directory,
    ndjson: &[u8],
    opts: &Options,
) -> Result<Report, SimulateError> {
    let mut report = Report::default();
    let mut events = vec![];
    for (line, raw, parsed) in parse_events(&config, ndjson) {
        match parsed {
            Ok(e) => events.push((raw, e)),
            Err(e) => report.input_errors.push(format!("line {line}: {e}")),
        }
    }
    // Stable: ties keep their input order.
    events.sort_by_key(|(_, e)| e.occurred_utc());

    let tz_of = {
        let config = config.clone();
        move |school: &str| {
            config
                .policy(school)
                .map(|p| p.calendar.tz)
                .unwrap_or(config.default_policy.calendar.tz)
        }
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().await?);
    let renderer = Arc::new(Renderer::load(config.templates_dir.as_deref())?);
    let start = events
        .first()
        .map(|(_, e)| e.occurred_utc())
        .unwrap_or_default();
    let clock = Arc::new(ManualClock::new(start));
    let shared = Shared::new(config.clone(), directory);

    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = sent.clone();
    let tz = tz_of.clone();
    let tables = config.channels.clone();
    let observer = Arc::new(move |m: &SentMessage| {
        let missing = tables.missing_table(m.outgoing.channel);
        sink.lock()
            .expect("sink")
            .push(message_line(m, tz(&m.outgoing.school), missing));
    });
    let suppressed: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut ingestor = Ingestor::new(store.clone(), shared.clone());
    if opts.explain {
        let sink = suppressed.clone();
        let tz = tz_of.clone();
        let seen = Arc::new(Mutex::new(HashSet::new()));
        ingestor = ingestor.observe(Arc::new(move |event, plan, now| {
            for s in &plan.suppressed {
                let id = (s.event_id.clone(), s.recipient.clone(), s.rule);
                if !seen.lock().expect("seen").insert(id) {
                    continue;
                }
                sink.lock().expect("sink").push(json!({
                    "type": "suppressed",
                    "at": local_rfc3339(now, tz(&event.school)),
                    "school": s.school,
                    "recipient": s.recipient,
                    "role": s.role.map(|r| r.as_str()),
                    "student": s.student,
                    "events": [s.event_id],
                    "records": [s.record],
                    "rule": s.rule,
                    "why": s.why,
                }));
            }
        }));
    }
    let channels = [
        ChannelKind::Email,
        ChannelKind::Webpush,
        ChannelKind::Fcm,
        ChannelKind::Ntfy,
        ChannelKind::Webhook,
    ]
    .into_iter()
    .fold(Channels::default(), |c, k| c.with(k, Arc::new(Discard)));
    let dispatcher =
        Dispatcher::new(store.clone(), shared, channels, renderer, clock.clone()).observe(observer);

    let mut pending = events.into_iter().peekable();
    loop {
        let next_event = pending.peek().map(|(_, e)| e.occurred_utc());
        let next_due = store.next_due().await?;
        let (now, is_event) = match (next_event, next_due) {
            (Some(e), Some(d)) if d < e => (d, false),
            (Some(e), _) => (e, true),
            (None, Some(d)) => (d, false),
            (None, None) => break,
        };
        if opts.until.is_some_and(|u| now > u) {
            break;
        }
        clock.set(now);
        let now = clock.now();
        if is_event {
            let (raw, event) = pending.next().expect("peeked");
            ingestor
                .ingest_parsed(&[&raw], vec![Ok(event)], "simulate", now)
                .await?;
        } else {
            dispatcher.run_due(now, None).await?;
        }
    }
    let mut lines = std::mem::take(&mut *sent.lock().expect("sink"));
    lines.extend(std::mem::take(&mut *suppressed.lock().expect("sink")));
    // By instant (the strings carry offsets, so compare parsed), stable for ties.
    lines.sort_by_key(|l| {
        l["at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    });
    report.lines = lines;
    Ok(report)
}

/// One output line, exactly as DESIGN.md's contract says. A message on a channel whose table
/// the config lacks (`missing`, e.g. `"[fcm]"`) would not be sent: its line says
/// `"type":"undeliverable"` and why, instead of passing for a sent message.
fn message_line(m: &SentMessage, tz: Tz, missing: Option<&str>) -> Value {
    let o = &m.outgoing;
    let events = unique(m.notices.iter().map(|n| n.event_id.as_str()));
    let records = unique(m.notices.iter().map(|n| n.record.as_str()));
    let email = o.channel == ChannelKind::Email;
    let mut line = json!({
        "at": local_rfc3339(m.at, tz),
        "school": o.school,
        "recipient": o.recipient,
        "role": o.role.as_str(),
        "student": m.notices[0].student,
        "channel": o.channel.as_str(),
        "events": events,
        "records": records,
        "subject": if email { Some(&o.content.subject) } else { None },
        "title": if email { None } else { Some(&o.content.title) },
        "body": if email { &o.content.text } else { &o.content.body },
    });
    if let (Some(table), Some(fields)) = (missing, line.as_object_mut()) {
        fields.insert("type".into(), "undeliverable".into());
        fields.insert(
            "why".into(),
            format!("the config has no {table} table: rustig run would not send this message")
                .into(),
        );
    }
    line
}

/// Distinct values in first-seen order.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}
