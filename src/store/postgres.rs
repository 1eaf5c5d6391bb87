//! The shared store: the SQLite delay buffer's tables and semantics on PostgreSQL, so that
//! several rustig instances on one database split the work. PostgreSQL is the coordinator;
//! there is no leader:
//!
//! - Claiming locks due notices with `FOR UPDATE SKIP LOCKED` and sets a lease
//!   (`claimed_until`). A transaction-level advisory lock per (school, recipient, channel)
//!   keeps a group in one claim, so one recipient gets one message, not one per instance.
//! - Ingest serializes per record (and per classroom release) with transaction-level
//!   advisory locks, because the current-version logic reads before it writes and the first
//!   event of a record has no row to lock yet.
//! - A commit that planned notices sends `NOTIFY`, so idle instances re-read the next due
//!   time instead of sleeping past work another instance took in.
//! - A family's stored choice sends `NOTIFY` on a channel of its own, so the other instances
//!   load it and re-plan that person (`crate::prefs::follow`).

mod admin;
mod audit;
mod outlook;
mod preference;
mod retention;
mod snapshot;
mod unresolved;
mod whatif;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::health::{self, Health, HealthState};
use super::outbox;
use super::{
    from_ms, to_ms, Counts, Current, Outcome, RecordKey, Result, Store, StoreError, StoredNotice,
    Tx,
};
use crate::model::reachability::{GoneKey, GoneMark};
use crate::model::{ChannelKind, Event, Role};
use crate::policy::{Delivered, Notice, NoticeKind};

/// Connections per instance: ingest transactions, the scheduler's claim/finish and per-group
/// cap queries, and one held by the notification listener. Ten serve a busy instance and
/// keep three instances well under PostgreSQL's default `max_connections` of 100.
const POOL_SIZE: u32 = 10;

/// Candidate groups looked at per claimed group: others may hold the first ones.
const CANDIDATES_PER_GROUP: i64 = 4;
/// Due rows looked at per candidate group: the candidates come from the first due rows (by
/// index), not from grouping every due row, so a claim costs O(batch), not O(backlog).
const ROWS_PER_GROUP: i64 = 8;

/// Without a notification, the scheduler still looks again this often (a lost `NOTIFY`
/// while the listener reconnected, or a listener that cannot connect).
const POLL: Duration = Duration::from_secs(30);

/// Unit separator between the parts of an advisory-lock key.
const SEP: char = '\u{1f}';

/// The schema this build expects, applied at open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    health: Arc<HealthState>,
    wake: Arc<Notify>,
    /// The `NOTIFY` channel of this schema (channels are per database, schemas are not).
    channel: String,
    /// The `NOTIFY` channel of stored choices in this schema.
    prefs_channel: String,
    /// This store's id in those notifications, so it skips its own.
    instance: String,
    /// Choices stored by other instances, from the listener.
    choice_changes: tokio::sync::broadcast::Sender<super::preference::ChoiceChanged>,
    /// Prefix of advisory-lock keys, so schemas sharing a database do not block each other.
    lock_prefix: String,
    listener: JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgStore {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?options[search_path]=SCHEMA]`. Creates the
    /// tables (migrations are serialized by sqlx's own advisory lock, so instances may start
    /// together). `synchronous_commit` stays at the server's default: a commit is durable.
    pub async fn open(url: &str) -> Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)?.application_name("rustig");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(opts)
            .await?;
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let schema = schema.ok_or_else(|| {
            StoreError::Setup(
                "postgres: no schema of the search_path exists; create it first".into(),
            )
        })?;
        MIGRATOR.run(&pool).await?;
        let digest = hex::encode(&Sha256::digest(schema.as_bytes())[..8]);
        let channel = format!("rustig_due_{digest}");
        let health = Arc::new(HealthState::new("postgres"));
        let wake = Arc::new(Notify::new());
        let prefs_channel = format!("rustig_prefs_{digest}");
        let instance = format!("{:016x}", fastrand::u64(..));
        let (choice_changes, _) = tokio::sync::broadcast::channel(256);
        let listener = tokio::spawn(listen(
            pool.clone(),
            Channels {
                due: channel.clone(),
                prefs: prefs_channel.clone(),
                instance: instance.clone(),
            },
            wake.clone(),
            health.clone(),
            choice_changes.clone(),
        ));
        tracing::debug!(%schema, "postgres store open");
        Ok(PgStore {
            pool,
            health,
            wake,
            channel,
            prefs_channel,
            instance,
            choice_changes,
            lock_prefix: format!("{schema}{SEP}"),
            listener,
        })
    }
}

/// What the listener listens to.
struct Channels {
    /// Due times may have changed.
    due: String,
    /// A family's choice was stored (payload: `{"from", "school", "person"}`).
    prefs: String,
    /// This store's id: its own choices are not news to it.
    instance: String,
}

/// Keeps a `LISTEN` connection and turns notifications into wake-ups and choice changes.
/// sqlx reconnects and listens again by itself; a wake-up after a reconnect covers the due
/// times missed meanwhile, and [`ChoiceChanged::Any`] the choices.
async fn listen(
    pool: PgPool,
    channels: Channels,
    wake: Arc<Notify>,
    health: Arc<HealthState>,
    choices: tokio::sync::broadcast::Sender<super::preference::ChoiceChanged>,
) {
    use super::preference::ChoiceChanged;
    let mut first = true;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                health.failed(&e);
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([channels.due.as_str(), channels.prefs.as_str()])
            .await
        {
            health.failed(&e);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        wake.notify_one();
        // Choices stored while no connection listened were missed (not at the first one:
        // the daemon loads every choice at its start).
        if !std::mem::take(&mut first) {
            let _ = choices.send(ChoiceChanged::Any);
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == channels.prefs => {
                    match choice_of_payload(n.payload(), &channels.instance) {
                        Some(Some(c)) => {
                            let _ = choices.send(c);
                        }
                        Some(None) => {}
                        None => {
                            tracing::warn!(store = "postgres", "unreadable choice notification");
                            let _ = choices.send(ChoiceChanged::Any);
                        }
                    }
                }
                Ok(Some(_)) => wake.notify_one(),
                Ok(None) => {
                    tracing::warn!(
                        store = "postgres",
                        "notification connection lost; reconnecting"
                    );
                    // Listened again by the loop above, which then reports what may
                    // have been missed.
                    wake.notify_one();
                    break;
                }
                Err(e) => {
                    health.failed(&e);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    break;
                }
            }
        }
    }
}

/// The change a choice notification names; `Some(None)` for this store's own, `None` when it
/// cannot be read.
fn choice_of_payload(
    payload: &str,
    instance: &str,
) -> Option<Option<super::preference::ChoiceChanged>> {
    #[derive(serde::Deserialize)]
    struct Payload {
        from: String,
        school: String,
        person: String,
    }
    let p: Payload = serde_json::from_str(payload).ok()?;
    Some(
        (p.from != instance).then_some(super::preference::ChoiceChanged::Person {
            school: p.school,
            person: p.person,
        }),
    )
}

const NOTICE_COLUMNS: [&str; 17] = [
    "id",
    "key",
    "school",
    "record",
    "event_id",
    "student",
    "recipient",
    "role",
    "channel",
    "kind",
    "due_at",
    "state",
    "attempts",
    "last_error",
    "reasons",
    "message_id",
    "message_key",
];

fn columns(prefix: &str) -> String {
    NOTICE_COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn notice_from_row(r: &PgRow) -> Result<StoredNotice> {
    let role: String = r.try_get("role")?;
    let channel: String = r.try_get("channel")?;
    let kind: String = r.try_get("kind")?;
    let reasons: String = r.try_get("reasons")?;
    Ok(StoredNotice {
        id: r.try_get("id")?,
        key: r.try_get("key")?,
        school: r.try_get("school")?,
        record: r.try_get("record")?,
        event_id: r.try_get("event_id")?,
        student: r.try_get("student")?,
        recipient: r.try_get("recipient")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        channel: ChannelKind::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("kind {kind:?}")))?,
        due_at: from_ms(r.try_get("due_at")?),
        state: r.try_get("state")?,
        attempts: r.try_get::<i32, _>("attempts")?.max(0) as u32,
        last_error: r.try_get("last_error")?,
        reasons: super::reasons::decode(&reasons)?,
        message_id: r.try_get("message_id")?,
        message_key: r.try_get("message_key")?,
    })
}

fn parse_event(body: &str) -> Result<Event> {
    Event::parse(body.as_bytes()).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
}

/// Orders a claim like the SQLite store does: by group, then due time.
fn sort_claim(out: &mut [StoredNotice]) {
    out.sort_by(|a, b| {
        (&a.school, &a.recipient, a.channel, a.due_at, a.id).cmp(&(
            &b.school,
            &b.recipient,
            b.channel,
            b.due_at,
            b.id,
        ))
    });
}

#[async_trait]
impl Store for PgStore {
    async fn migrations_missing(&self) -> Result<Vec<i64>> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.health.db(e))?;
        Ok(super::missing_migrations(&MIGRATOR, &applied))
    }

    fn snapshots(&self) -> &dyn super::snapshot::SnapshotStore {
        self
    }

    fn retention(&self) -> &dyn super::retention::Retention {
        self
    }

    fn audit(&self) -> &dyn super::audit::AuditLog {
        self
    }

    fn preferences(&self) -> &dyn super::preference::PreferenceStore {
        self
    }

    fn views(&self) -> &dyn super::admin::AdminQueries {
        self
    }

    fn outlook(&self) -> &dyn super::outlook::OutlookQueries {
        self
    }

    fn unresolved(&self) -> &dyn super::unresolved::UnresolvedStore {
        self
    }

    fn whatif(&self) -> &dyn super::whatif::WhatIfQueries {
        self
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        let tx = self.pool.begin().await.map_err(|e| self.health.db(e))?;
        self.health.ok();
        Ok(Box::new(PgTx {
            tx,
            health: self.health.clone(),
            lock_prefix: self.lock_prefix.clone(),
            channel: self.channel.clone(),
            locked: HashSet::new(),
            planned: false,
        }))
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        // Two index look-ups (each MIN is the first entry of a partial index), not a scan.
        let r = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT LEAST((SELECT MIN(due_at) FROM notices WHERE state = 'pending'), \
                          (SELECT MIN(claimed_until) FROM notices WHERE state = 'claimed'))",
        )
        .fetch_one(&self.pool)
        .await;
        Ok(self
            .health
            .observe(r.map_err(StoreError::from))?
            .map(from_ms))
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        groups: u32,
    ) -> Result<Vec<StoredNotice>> {
        // One statement, one snapshot: the candidate groups, the ones whose advisory lock this
        // transaction gets (others are being claimed elsewhere), then their due rows with
        // SKIP LOCKED. A row claimed and committed by another instance after our snapshot is
        // re-checked on the newest version by FOR UPDATE, so it is never claimed twice.
        // Groups due at the same instant go in the order their first notice arrived, as on
        // SQLite: the recipient who has waited longest first.
        let claimable = |n: &str| {
            format!(
                "(({n}state = 'pending' AND {n}due_at <= $1) \
                 OR ({n}state = 'claimed' AND {n}claimed_until <= $1))"
            )
        };
        let sql = format!(
            "WITH first_rows AS MATERIALIZED ( \
                (SELECT school, recipient, channel, due_at AS t, id FROM notices \
                 WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at LIMIT $6) \
                UNION ALL \
                (SELECT school, recipient, channel, claimed_until AS t, id FROM notices \
                 WHERE state = 'claimed' AND claimed_until <= $1 ORDER BY claimed_until LIMIT $6) \
             ), candidates AS MATERIALIZED ( \
                SELECT school, recipient, channel, MIN(t) AS first, MIN(id) AS arrived \
                FROM first_rows \
                GROUP BY school, recipient, channel ORDER BY first, arrived LIMIT $3 \
             ), mine AS MATERIALIZED ( \
                SELECT school, recipient, channel FROM candidates \
                WHERE pg_try_advisory_xact_lock(hashtextextended( \
                    $5 || school || chr(31) || recipient || chr(31) || channel, 0)) \
                LIMIT $4 \
             ), due AS ( \
                SELECT n.id FROM notices n \
                JOIN mine g ON g.school = n.school AND g.recipient = n.recipient AND g.channel = n.channel \
                WHERE {cn} FOR UPDATE OF n SKIP LOCKED \
             ) \
             UPDATE notices AS t SET state = 'claimed', claimed_until = $2 \
             FROM due WHERE t.id = due.id RETURNING {cols}",
            cn = claimable("n."),
            cols = columns("t."),
        );
        // The claim and its messages (the outbox) commit together, before anything is sent.
        let r = async {
            let mut tx = self.pool.begin().await?;
            let rows = sqlx::query(&sql)
                .bind(to_ms(now))
                .bind(to_ms(lease_until))
                .bind(groups as i64 * CANDIDATES_PER_GROUP)
                .bind(groups as i64)
                .bind(format!("{}group{SEP}", self.lock_prefix))
                .bind(groups as i64 * CANDIDATES_PER_GROUP * ROWS_PER_GROUP)
                .fetch_all(&mut *tx)
                .await?;
            let mut out = rows
                .iter()
                .map(notice_from_row)
                .collect::<Result<Vec<_>>>()?;
            let plan = outbox::compose(&out);
            let ids = record_messages(&mut tx, &plan, now).await?;
            outbox::link(&mut out, &plan.new, &ids);
            tx.commit().await?;
            Ok(out)
        }
        .await;
        let mut out = self.health.observe(r)?;
        sort_claim(&mut out);
        Ok(out)
    }

    async fn finish(&self, outcomes: &[(Vec<i64>, Outcome)]) -> Result<()> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            for (ids, outcome) in outcomes {
                if matches!(outcome, Outcome::Defer { .. }) {
                    dissolve_unsent(&mut tx, ids).await?;
                }
                let q = match outcome {
                    Outcome::Sent { message_key, at } => sqlx::query(
                        "UPDATE notices SET state = 'sent', sent_at = $2, message_key = $3, claimed_until = NULL, \
                         attempts = attempts + 1 WHERE id = ANY($1)",
                    )
                    .bind(ids)
                    .bind(to_ms(*at))
                    .bind(message_key),
                    Outcome::Retry { error, at } => sqlx::query(
                        "UPDATE notices SET state = 'pending', due_at = $2, last_error = $3, claimed_until = NULL, \
                         attempts = attempts + 1 WHERE id = ANY($1)",
                    )
                    .bind(ids)
                    .bind(to_ms(*at))
                    .bind(error),
                    Outcome::Dead { error } => sqlx::query(
                        "UPDATE notices SET state = 'dead', last_error = $2, claimed_until = NULL, \
                         attempts = attempts + 1 WHERE id = ANY($1)",
                    )
                    .bind(ids)
                    .bind(error),
                    Outcome::Defer { reason } => sqlx::query(
                        "UPDATE notices SET state = 'pending', due_at = $2, claimed_until = NULL, \
                         reasons = (reasons::jsonb || jsonb_build_array($3::jsonb))::text WHERE id = ANY($1)",
                    )
                    .bind(ids)
                    .bind(to_ms(reason.to))
                    .bind(super::reasons::encode_one(reason)),
                };
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.health.observe(r)
    }

    async fn events(&self, ids: &[String]) -> Result<HashMap<String, Event>> {
        let r = sqlx::query("SELECT id, body FROM events WHERE id = ANY($1) AND purged_at IS NULL")
            .bind(ids)
            .fetch_all(&self.pool)
            .await;
        let rows = self.health.observe(r.map_err(StoreError::from))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("id")?,
                    parse_event(r.try_get("body")?)?,
                ))
            })
            .collect()
    }

    async fn notices_of_event(&self, event_id: &str) -> Result<Vec<StoredNotice>> {
        let r = sqlx::query(&format!(
            "SELECT {} FROM notices WHERE event_id = $1 ORDER BY id",
            columns("")
        ))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await;
        let rows = self.health.observe(r.map_err(StoreError::from))?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn pending_records(&self) -> Result<Vec<(String, String)>> {
        let r = sqlx::query_as(
            "SELECT DISTINCT school, record FROM notices WHERE state = 'pending' ORDER BY school, record",
        )
        .fetch_all(&self.pool)
        .await;
        self.health.observe(r.map_err(StoreError::from))
    }

    async fn save_directory(&self, json: &str, at: DateTime<Utc>) -> Result<()> {
        let hash = super::directory_hash(json);
        let r = async {
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT hash FROM directory WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?;
            if stored.flatten().as_deref() == Some(hash.as_str()) {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO directory (id, body, updated_at, hash) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, \
                 updated_at = excluded.updated_at, hash = excluded.hash",
            )
            .bind(json)
            .bind(to_ms(at))
            .bind(&hash)
            .execute(&self.pool)
            .await
            .map(|_| ())
        }
        .await;
        self.health.observe(r.map_err(StoreError::from))
    }

    async fn load_directory(&self) -> Result<Option<String>> {
        let r = sqlx::query_scalar("SELECT body FROM directory WHERE id = 1")
            .fetch_optional(&self.pool)
            .await;
        self.health.observe(r.map_err(StoreError::from))
    }

    async fn counts(&self) -> Result<Counts> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM events) AS events, \
                    (SELECT COUNT(*) FROM notices WHERE state = 'pending') AS pending, \
                    (SELECT COUNT(*) FROM notices WHERE state = 'claimed') AS claimed, \
                    (SELECT COUNT(*) FROM notices WHERE state = 'sent') AS sent, \
                    (SELECT COUNT(*) FROM notices WHERE state = 'dead') AS dead, \
                    (SELECT COUNT(*) FROM quarantine) AS quarantined",
        )
        .fetch_one(&self.pool)
        .await;
        let r = self.health.observe(r.map_err(StoreError::from))?;
        Ok(Counts {
            events: r.try_get("events")?,
            pending: r.try_get("pending")?,
            claimed: r.try_get("claimed")?,
            sent: r.try_get("sent")?,
            dead: r.try_get("dead")?,
            quarantined: r.try_get("quarantined")?,
        })
    }

    async fn previously_delivered(
        &self,
        school: &str,
        record: &str,
        recipient: &str,
        event_id: &str,
    ) -> Result<Option<String>> {
        let r = sqlx::query_scalar(
            // The record's rows first, filtered after (see `RECORD_ROWS`).
            "WITH r AS MATERIALIZED (SELECT event_id, recipient, state, sent_at, id FROM notices \
             WHERE school = $1 AND record = $2) \
             SELECT event_id FROM r WHERE recipient = $3 AND state = 'sent' \
             AND event_id <> $4 ORDER BY sent_at DESC, id DESC LIMIT 1",
        )
        .bind(school)
        .bind(record)
        .bind(recipient)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await;
        self.health.observe(r.map_err(StoreError::from))
    }

    async fn messages_sent_since(
        &self,
        school: &str,
        recipient: &str,
        channel: ChannelKind,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        let r = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT message_key) FROM notices WHERE school = $1 AND recipient = $2 AND channel = $3 \
             AND state = 'sent' AND sent_at >= $4",
        )
        .bind(school)
        .bind(recipient)
        .bind(channel.as_str())
        .bind(to_ms(since))
        .fetch_one(&self.pool)
        .await;
        self.health.observe(r.map_err(StoreError::from))
    }

    async fn mark_gone(&self, marks: &[GoneMark]) -> Result<()> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            for m in marks {
                sqlx::query(
                    "INSERT INTO gone_contacts (school, recipient, contact_id, channel, reason, marked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (school, recipient, contact_id) \
                     DO UPDATE SET reason = excluded.reason, marked_at = excluded.marked_at",
                )
                .bind(&m.school)
                .bind(&m.recipient)
                .bind(&m.contact_id)
                .bind(m.channel.as_str())
                .bind(&m.reason)
                .bind(to_ms(m.marked_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.health.observe(r)
    }

    async fn gone_contacts(&self) -> Result<Vec<GoneMark>> {
        let r = sqlx::query_as::<_, (String, String, String, String, String, i64)>(
            "SELECT school, recipient, contact_id, channel, reason, marked_at FROM gone_contacts \
             ORDER BY marked_at, school, recipient, contact_id",
        )
        .fetch_all(&self.pool)
        .await;
        let rows = self.health.observe(r.map_err(StoreError::from))?;
        rows.into_iter()
            .map(|(school, recipient, contact_id, channel, reason, at)| {
                Ok(GoneMark {
                    school,
                    recipient,
                    channel: ChannelKind::parse(&channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
                    contact_id,
                    reason,
                    marked_at: from_ms(at),
                })
            })
            .collect()
    }

    async fn clear_gone(&self, keys: &[GoneKey]) -> Result<()> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            for k in keys {
                sqlx::query(
                    "DELETE FROM gone_contacts WHERE school = $1 AND recipient = $2 AND contact_id = $3",
                )
                .bind(&k.school)
                .bind(&k.recipient)
                .bind(&k.contact_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        self.health.observe(r)
    }

    async fn resend_dead(&self, event_id: Option<&str>, now: DateTime<Utc>) -> Result<u64> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            // Locked, so two instances (or two operators) put each notice back once.
            let rows: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT id, due_at, reasons FROM notices WHERE state = 'dead' \
                 AND ($1::text IS NULL OR event_id = $1) FOR UPDATE",
            )
            .bind(event_id)
            .fetch_all(&mut *tx)
            .await?;
            for (id, due_at, reasons) in &rows {
                let reasons = super::resent_reasons(reasons, from_ms(*due_at), now)?;
                sqlx::query(
                    "UPDATE notices SET state = 'pending', due_at = $2, attempts = 0, claimed_until = NULL, \
                     reasons = $3, message_id = NULL, message_key = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(to_ms(now))
                .bind(reasons)
                .execute(&mut *tx)
                .await?;
            }
            if !rows.is_empty() {
                notify(&mut tx, &self.channel).await?;
            }
            tx.commit().await?;
            Ok(rows.len() as u64)
        }
        .await;
        self.health.observe(r)
    }

    async fn add_notices(&self, notices: &[Notice]) -> Result<u64> {
        let r = async {
            let mut tx = self.pool.begin().await?;
            let added = insert_notices(&mut tx, notices).await?;
            if added > 0 {
                notify(&mut tx, &self.channel).await?;
            }
            tx.commit().await?;
            Ok(added)
        }
        .await;
        self.health.observe(r)
    }

    async fn health(&self) -> Health {
        // From the maintained counters (migration 0060): a probe is cheap whatever the
        // backlog.
        let probe = health::probe(
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(SUM(n), 0)::bigint FROM ( \
                 SELECT count AS n FROM notice_counts WHERE state = 'pending' \
                 UNION ALL \
                 SELECT delta AS n FROM notice_count_deltas WHERE state = 'pending') c",
            )
            .fetch_one(&self.pool),
        )
        .await;
        self.health
            .snapshot(probe, self.pool.size(), self.pool.num_idle() as u32)
    }

    async fn changed(&self) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Tells every instance listening on `channel` to look at the due times again; PostgreSQL
/// delivers it when (and only if) the transaction commits.
async fn notify(tx: &mut Transaction<'static, Postgres>, channel: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a claim's messages (see [`outbox`]); returns the rows of `plan.new`, in order.
async fn record_messages(
    tx: &mut Transaction<'static, Postgres>,
    plan: &outbox::Composition,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    if !plan.again.is_empty() {
        sqlx::query("UPDATE messages SET claims = claims + 1 WHERE id = ANY($1)")
            .bind(&plan.again)
            .execute(&mut **tx)
            .await?;
    }
    if plan.new.is_empty() {
        return Ok(vec![]);
    }
    let col = |f: fn(&outbox::NewMessage) -> String| plan.new.iter().map(f).collect::<Vec<_>>();
    // The same notices put together again (after `resend`) make the same key: that row.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO messages (key, school, recipient, channel, created_at) \
         SELECT k, s, r, c, $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, s, r, c) \
         ON CONFLICT (key) DO UPDATE SET claims = messages.claims + 1 RETURNING key, id",
    )
    .bind(col(|m| m.key.clone()))
    .bind(col(|m| m.school.clone()))
    .bind(col(|m| m.recipient.clone()))
    .bind(col(|m| m.channel.as_str().to_string()))
    .bind(to_ms(now))
    .fetch_all(&mut **tx)
    .await?;
    let by_key: HashMap<String, i64> = rows.into_iter().collect();
    let ids: Vec<i64> = plan.new.iter().map(|m| by_key[&m.key]).collect();
    let (mut notices, mut messages, mut keys) = (vec![], vec![], vec![]);
    for (m, id) in plan.new.iter().zip(&ids) {
        for n in &m.notices {
            notices.push(*n);
            messages.push(*id);
            keys.push(m.key.clone());
        }
    }
    sqlx::query(
        "UPDATE notices SET message_id = u.m, message_key = u.k \
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS u(n, m, k) WHERE notices.id = u.n",
    )
    .bind(notices)
    .bind(messages)
    .bind(keys)
    .execute(&mut **tx)
    .await?;
    Ok(ids)
}

/// Deletes the messages (of these, from notices just deleted) that no notice is in any more:
/// a message row lives as long as its notices (superseded, purged or erased).
pub(super) async fn drop_emptied_messages(
    tx: &mut Transaction<'static, Postgres>,
    messages: Vec<Option<i64>>,
) -> std::result::Result<(), sqlx::Error> {
    let mut messages: Vec<i64> = messages.into_iter().flatten().collect();
    messages.sort_unstable();
    messages.dedup();
    if !messages.is_empty() {
        sqlx::query(
            "DELETE FROM messages m WHERE m.id = ANY($1) \
             AND NOT EXISTS (SELECT 1 FROM notices WHERE message_id = m.id)",
        )
        .bind(messages)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A deferred message that no claim before this one took cannot have been sent: its notices
/// leave it, free to bundle with others at their new time, and it goes.
async fn dissolve_unsent(tx: &mut Transaction<'static, Postgres>, notices: &[i64]) -> Result<()> {
    let unsent: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT m.id FROM notices n JOIN messages m ON m.id = n.message_id \
         WHERE n.id = ANY($1) AND m.claims = 1",
    )
    .bind(notices)
    .fetch_all(&mut **tx)
    .await?;
    if unsent.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE notices SET message_id = NULL, message_key = NULL WHERE message_id = ANY($1)",
    )
    .bind(&unsent)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM messages WHERE id = ANY($1)")
        .bind(&unsent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

// RECORD_ROWS: a record's notices are looked up by (school, record) alone, in a materialized
// CTE, and their state is tested after. With `n.state = '…'` in the same scan, a planner
// without statistics (a fresh or fast-growing table, before autovacuum analyzes it) picks
// `notices_school_state` (school, state) as the better match and walks a whole school's
// pending notices for every record: 8.0 s for one supersede of 1 000 records at 100 000
// notices, against 5.7 ms through `notices_record` (EXPLAIN ANALYZE, PostgreSQL 15).

/// Schools and keys as two arrays, for `UNNEST`.
fn split(keys: &[RecordKey]) -> (Vec<String>, Vec<String>) {
    keys.iter().cloned().unzip()
}

/// Stores notices in one round trip, keeping any notice that already has the key (claimed or
/// sent under it); returns how many were new.
async fn insert_notices(
    tx: &mut Transaction<'static, Postgres>,
    notices: &[Notice],
) -> Result<u64> {
    if notices.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&Notice) -> String| notices.iter().map(f).collect::<Vec<String>>();
    let due: Vec<i64> = notices.iter().map(|n| to_ms(n.due_at)).collect();
    let release: Vec<Option<String>> = notices.iter().map(|n| n.release_key.clone()).collect();
    let done = sqlx::query(
        "INSERT INTO notices (key, school, record, event_id, student, recipient, role, channel, kind, \
         due_at, release_key, reasons) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[]) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(col(|n| n.key.clone()))
    .bind(col(|n| n.school.clone()))
    .bind(col(|n| n.record.clone()))
    .bind(col(|n| n.event_id.clone()))
    .bind(col(|n| n.student.clone()))
    .bind(col(|n| n.recipient.clone()))
    .bind(col(|n| n.role.as_str().to_string()))
    .bind(col(|n| n.channel.as_str().to_string()))
    .bind(col(|n| n.kind.as_str().to_string()))
    .bind(due)
    .bind(release)
    .bind(col(|n| {
        super::reasons::encode(&n.reasons)
    }))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

struct PgTx {
    tx: Transaction<'static, Postgres>,
    health: Arc<HealthState>,
    lock_prefix: String,
    channel: String,
    /// Exclusive advisory locks this transaction holds (until commit or rollback).
    locked: HashSet<String>,
    /// Notices were planned: other instances are told at commit.
    planned: bool,
}

impl PgTx {
    /// Holds advisory locks until commit: `what` says of what ("record": ingest of a record is
    /// serialized across instances; "release": shared by ingests that read a classroom
    /// release, exclusive for the one that records it, so a grade planned concurrently with
    /// its release is never left waiting). Taken in one statement in a fixed order, so that
    /// two instances ingesting overlapping batches wait for each other instead of
    /// deadlocking.
    async fn lock_all(&mut self, what: &str, keys: &[RecordKey], shared: bool) -> Result<()> {
        let mut names: Vec<String> = keys
            .iter()
            .map(|(school, key)| format!("{}{what}{SEP}{school}{SEP}{key}", self.lock_prefix))
            .filter(|name| !self.locked.contains(name))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        names.sort_unstable();
        names.dedup();
        let f = if shared {
            "pg_advisory_xact_lock_shared"
        } else {
            "pg_advisory_xact_lock"
        };
        sqlx::query(&format!(
            "SELECT {f}(hashtextextended(k, 0)) FROM UNNEST($1::text[]) WITH ORDINALITY AS u(k, i) \
             ORDER BY i"
        ))
        .bind(&names)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        if !shared {
            self.locked.extend(names);
        }
        Ok(())
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn event(&mut self, id: &str) -> Result<Option<Event>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM events WHERE id = $1 AND purged_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| self.health.db(e))?;
        body.map(|b| parse_event(&b)).transpose()
    }

    async fn record_release(
        &mut self,
        school: &str,
        release_key: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let key = (school.to_string(), release_key.to_string());
        self.lock_all("release", &[key], false).await?;
        sqlx::query(
            "INSERT INTO releases (school, release_key, released_at) VALUES ($1, $2, $3) \
             ON CONFLICT (school, release_key) DO UPDATE SET released_at = LEAST(releases.released_at, excluded.released_at)",
        )
        .bind(school)
        .bind(release_key)
        .bind(to_ms(at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(())
    }

    async fn records_waiting_for(
        &mut self,
        school: &str,
        release_key: &str,
    ) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT record FROM notices WHERE school = $1 AND release_key = $2 AND state = 'pending' ORDER BY record",
        )
        .bind(school)
        .bind(release_key)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))
    }

    async fn add_unresolved(
        &mut self,
        rows: &[super::unresolved::Unresolved],
    ) -> Result<Vec<(String, String)>> {
        // Rare (the directory lags the SIS): a statement or two per row is fine.
        let mut first = Vec::new();
        for r in rows {
            let waiting: Option<i64> = sqlx::query_scalar(
                "SELECT since FROM unresolved WHERE school = $1 AND student = $2 \
                 AND dead_at IS NULL LIMIT 1",
            )
            .bind(&r.school)
            .bind(&r.student)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(|e| self.health.db(e))?;
            sqlx::query(
                "INSERT INTO unresolved (event_id, school, student, record, since) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&r.event_id)
            .bind(&r.school)
            .bind(&r.student)
            .bind(&r.record)
            .bind(to_ms(r.since))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.db(e))?;
            let pair = (r.school.clone(), r.student.clone());
            if waiting.is_none() && !first.contains(&pair) {
                first.push(pair);
            }
        }
        Ok(first)
    }

    async fn quarantine(&mut self, item: &super::retention::QuarantineItem<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO quarantine (received_at, source, reason, raw, kind, size, hash, kept) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(to_ms(item.at))
        .bind(item.source)
        .bind(&item.reason)
        .bind(item.prefix)
        .bind(item.kind.as_str())
        .bind(item.size as i64)
        .bind(&item.hash)
        .bind(item.cost())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(())
    }

    async fn quarantine_bytes(&mut self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(SUM(kept), 0)::BIGINT FROM quarantine")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| self.health.db(e))
    }

    async fn event_hashes(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, Option<String>, String)> =
            sqlx::query_as("SELECT id, hash, body FROM events WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&mut *self.tx)
                .await
                .map_err(|e| self.health.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(id, hash, body)| {
                (
                    id,
                    hash.unwrap_or_else(|| super::retention::content_hash(&body)),
                )
            })
            .collect())
    }

    async fn insert_events(
        &mut self,
        events: &[&Event],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        let col = |f: fn(&Event) -> String| events.iter().map(|e| f(e)).collect::<Vec<String>>();
        let occurred: Vec<i64> = events.iter().map(|e| to_ms(e.occurred_utc())).collect();
        // A concurrent insert of the same id waits for the other transaction, then does
        // nothing: exactly one of them stores the event.
        let (bodies, hashes): (Vec<String>, Vec<String>) = events
            .iter()
            .map(|e| super::retention::body_and_hash(e))
            .unzip();
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO events (id, school, type, record, occurred_at, received_at, body, hash) \
             SELECT id, school, type, record, occurred_at, $7, body, hash \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
                         $8::text[]) \
                  AS u(id, school, type, record, occurred_at, body, hash) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(col(|e| e.id.clone()))
        .bind(col(|e| e.school.clone()))
        .bind(col(|e| e.type_name().to_string()))
        .bind(col(|e| e.record.clone()))
        .bind(occurred)
        .bind(bodies)
        .bind(to_ms(received_at))
        .bind(hashes)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        let mut inserted: HashSet<String> = inserted.into_iter().collect();
        Ok(events.iter().map(|e| inserted.remove(&e.id)).collect())
    }

    async fn currents(&mut self, records: &[RecordKey]) -> Result<HashMap<RecordKey, Current>> {
        if records.is_empty() {
            return Ok(HashMap::new());
        }
        // Read-then-write: hold the records until commit, also those without a row yet.
        self.lock_all("record", records, false).await?;
        let (schools, keys) = split(records);
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT r.school, r.record, r.event_id, r.occurred_at FROM records r \
             JOIN UNNEST($1::text[], $2::text[]) AS u(school, record) \
             ON r.school = u.school AND r.record = u.record",
        )
        .bind(schools)
        .bind(keys)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(school, record, event_id, ms)| {
                let cur = Current {
                    event_id,
                    occurred_at: from_ms(ms),
                };
                ((school, record), cur)
            })
            .collect())
    }

    async fn set_currents(&mut self, items: &[(RecordKey, Current)]) -> Result<()> {
        // One row per record (the last given): an upsert may not touch a row twice.
        let last: HashMap<&RecordKey, &Current> = items.iter().map(|(k, c)| (k, c)).collect();
        if last.is_empty() {
            return Ok(());
        }
        let keys: Vec<RecordKey> = last.keys().map(|k| (*k).clone()).collect();
        self.lock_all("record", &keys, false).await?;
        let (schools, records) = split(&keys);
        let ids: Vec<String> = keys.iter().map(|k| last[k].event_id.clone()).collect();
        let at: Vec<i64> = keys.iter().map(|k| to_ms(last[k].occurred_at)).collect();
        sqlx::query(
            "INSERT INTO records (school, record, event_id, occurred_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
             ON CONFLICT (school, record) DO UPDATE SET event_id = excluded.event_id, \
             occurred_at = excluded.occurred_at",
        )
        .bind(schools)
        .bind(records)
        .bind(ids)
        .bind(at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(())
    }

    async fn releases(&mut self, keys: &[RecordKey]) -> Result<HashMap<RecordKey, DateTime<Utc>>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        self.lock_all("release", keys, true).await?;
        let (schools, release_keys) = split(keys);
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT r.school, r.release_key, r.released_at FROM releases r \
             JOIN UNNEST($1::text[], $2::text[]) AS u(school, release_key) \
             ON r.school = u.school AND r.release_key = u.release_key",
        )
        .bind(schools)
        .bind(release_keys)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(school, key, ms)| ((school, key), from_ms(ms)))
            .collect())
    }

    async fn delivered_of(
        &mut self,
        records: &[RecordKey],
    ) -> Result<HashMap<RecordKey, Vec<Delivered>>> {
        if records.is_empty() {
            return Ok(HashMap::new());
        }
        let (schools, keys) = split(records);
        let rows: Vec<super::DeliveredRow> = sqlx::query_as(
            // The records' rows are found first and filtered after (see `RECORD_ROWS`).
            "WITH r AS MATERIALIZED (SELECT n.school, n.record, n.recipient, n.channel, \
             n.event_id, n.sent_at, n.id, n.state FROM UNNEST($1::text[], $2::text[]) \
             AS u(school, record) JOIN notices n ON n.school = u.school AND n.record = u.record) \
             SELECT school, record, recipient, channel, event_id, sent_at FROM r \
             WHERE state = 'sent' ORDER BY sent_at, id",
        )
        .bind(schools)
        .bind(keys)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.health.db(e))?;
        super::delivered_by_record(rows)
    }

    async fn replace_pending_of(
        &mut self,
        records: &[RecordKey],
        notices: &[Notice],
    ) -> Result<()> {
        if !records.is_empty() {
            self.lock_all("record", records, false).await?;
            let (schools, keys) = split(records);
            // Only pending rows go: a notice claimed meanwhile is being sent and stays. A
            // superseded notice leaves its message (one back from a transient failure), so a
            // withdrawn or corrected value is never sent again; an emptied message goes.
            let messages: Vec<Option<i64>> = sqlx::query_scalar(
                // The records' rows by `notices_record` first, then the pending ones by id
                // (see `RECORD_ROWS`); `n.state` is checked on the row deleted, so a notice
                // claimed meanwhile stays.
                "WITH doomed AS MATERIALIZED (SELECT n.id FROM UNNEST($1::text[], $2::text[]) \
                 AS u(school, record) JOIN notices n ON n.school = u.school AND n.record = u.record) \
                 DELETE FROM notices n USING doomed d WHERE n.id = d.id AND n.state = 'pending' \
                 RETURNING n.message_id",
            )
            .bind(schools)
            .bind(keys)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.health.db(e))?;
            drop_emptied_messages(&mut self.tx, messages)
                .await
                .map_err(|e| self.health.db(e))?;
        }
        if notices.is_empty() {
            return Ok(());
        }
        let r = insert_notices(&mut self.tx, notices).await;
        self.health.observe(r)?;
        self.planned = true;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if self.planned {
            let r = notify(&mut self.tx, &self.channel).await;
            self.health.observe(r)?;
        }
        let this = *self;
        this.tx.commit().await.map_err(|e| this.health.db(e))?;
        this.health.ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::choice_of_payload;
    use crate::store::preference::ChoiceChanged;

    #[test]
    fn choice_notifications_skip_our_own_and_read_the_person() {
        let p = r#"{"from":"b1","school":"coornhert","person":"g-2001"}"#;
        assert_eq!(
            choice_of_payload(p, "a1"),
            Some(Some(ChoiceChanged::Person {
                school: "coornhert".into(),
                person: "g-2001".into()
            }))
        );
        assert_eq!(choice_of_payload(p, "b1"), Some(None));
        assert_eq!(choice_of_payload("", "a1"), None);
    }
}
