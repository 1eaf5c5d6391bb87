//! What a what-if reads from the buffer besides the pending records: the events of the last
//! days, to replay them under two configs. Read only; nothing here writes.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::Result;
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
