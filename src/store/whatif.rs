//! What a what-if reads from the buffer besides the pending records: the events of the last
//! days, to replay them under two configs. Read only; nothing here writes.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{Result, StoreError};
use crate::model::Event;

/// An event's `occurred_at` lies at most this long after it was received (DESIGN.md), so
/// the events that occurred since `from` were all received since `from - SKEW`: the window
/// is read through the `received_at` index of unpurged events (migration 0050).
pub const SKEW: Duration = Duration::days(1);

#[async_trait]
pub trait WhatIfQueries: Send + Sync {
    /// The stored events (contents not purged) with `from <= occurred_at < to`, ordered by
    /// `occurred_at`, then `received_at`, then id: the order `simulate` replays them in.
    async fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Event>>;
}

/// Parses stored event bodies on the blocking pool, split over the cores: 60 000 events are
/// about 0.4 s of JSON on one core, a fifth of a what-if's budget. In the stored order.
pub(crate) async fn parse_bodies(bodies: Vec<String>) -> Result<Vec<Event>> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let size = bodies.len().div_ceil(parts).max(1);
    let mut chunks = vec![];
    let mut rest = bodies;
    while rest.len() > size {
        let tail = rest.split_off(size);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            tokio::task::spawn_blocking(move || {
                chunk
                    .iter()
                    .map(|b| {
                        Event::parse(b.as_bytes())
                            .map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
                    })
                    .collect::<Result<Vec<Event>>>()
            })
        })
        .collect();
    let mut out = vec![];
    for task in tasks {
        out.extend(task.await.expect("parsing does not panic")?);
    }
    Ok(out)
}
