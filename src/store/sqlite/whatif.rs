//! The what-if's reads on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::model::Event;
use crate::store::whatif::{WhatIfQueries, SKEW};
use crate::store::{to_ms, Result};

#[async_trait]
impl WhatIfQueries for SqliteStore {
    async fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Event>> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM events INDEXED BY events_unpurged \
             WHERE received_at >= ?1 AND purged_at IS NULL AND occurred_at >= ?2 AND occurred_at < ?3 \
             ORDER BY occurred_at, received_at, id",
        )
        .bind(to_ms(from - SKEW))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.pool)
        .await?;
        crate::store::whatif::parse_bodies(bodies).await
    }
}
