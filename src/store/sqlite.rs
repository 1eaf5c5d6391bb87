//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so an
//! acknowledged event survives a power cut (a release's records of outcomes alone skip their
//! own fsync: `unsynced`). One connection does all writes: SQLite has one writer anyway, and a
//! single connection never meets "database is locked".

mod admin;
mod audit;
mod checkpoint;
mod claimed;
mod gap_fill;
mod notice_row;
mod outlook;
mod preference;
mod raw;
mod retention;
mod snapshot;
mod state_counts;
mod unresolved;
mod unsynced;
mod whatif;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::health::{self, Health, HealthState};
use super::outbox;
use super::{
    directory_hash, from_ms, to_ms, Counts, Current, Outcome, RecordKey, Result, Store, StoreError,
    StoredNotice, Tx,
};
use crate::model::reachability::{GoneKey, GoneMark};
use crate::model::{ChannelKind, Event};
use crate::policy::{Delivered, Notice};
use notice_row::{notice_from_row, reasons_undecoded, NOTICE_COLUMNS};

/// The schema this build expects, applied at open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    /// A connection of its own for the release's reads outside a transaction (a claimed
    /// round's events, the event a recipient was told before, the daily cap's count): WAL
    /// lets it read what is committed beside the writer, whose one connection the claims and
    /// records keep busy during a release. In memory it is `pool` (a second connection would
    /// open another, empty, database).
    reader: SqlitePool,
    /// Fed by the scheduler's calls (the ones that run all the time) and health probes.
    health: HealthState,
    /// Copies the WAL into the file beside the writer (none in memory). Its checkpoints also
    /// fsync the WAL, which bounds how long a record committed without one stays unsynced
    /// (`unsynced`), so records skip their own fsync only when it runs.
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl SqliteStore {
    /// `sqlite://PATH` (created with its folder if missing) or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        Self::open_with(url, SqliteSynchronous::Full).await
    }

    /// A scratch store for `simulate` and tests: in memory, nothing to fsync.
    pub async fn memory() -> Result<SqliteStore> {
        Self::open_with("sqlite::memory:", SqliteSynchronous::Off).await
    }

    async fn open_with(url: &str, sync: SqliteSynchronous) -> Result<SqliteStore> {
        let mut opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .synchronous(sync)
            .busy_timeout(Duration::from_secs(30))
            // 16 MiB of page cache (the default is 2 MiB): claims and batched ingest touch
            // index pages all over a large backlog; the OS cache is further away (a syscall a
            // page).
            .pragma("cache_size", "-16384")
            // 16 KiB pages: a notice's rows and index entries span fewer pages, so an ingest
            // batch dirties (and the WAL carries) fewer of them (issue 18, BENCHMARKS.md). It
            // takes effect when the file is created; an existing database keeps its page size
            // (changing it means `PRAGMA journal_mode = DELETE; PRAGMA page_size = 16384;
            // VACUUM;` with the daemon stopped).
            .page_size(16384)
            // The writer checkpoints when the WAL reaches 32 MiB rather than 4 MiB: a page
            // written by several ingest batches is copied into the database once, and fewer
            // commits pay for it. Most copying is done before that, beside the writer
            // (`checkpoint`); this one then copies what is left and lets the WAL start over.
            // (In pages: 8 192 of 4 KiB; `after_connect` below sets it for the file's own page
            // size, so 16 KiB pages do not make a 128 MiB WAL.)
            .pragma("wal_autocheckpoint", "8192");
        if !url.contains(":memory:") {
            opts = opts.journal_mode(SqliteJournalMode::Wal);
            if let Some(parent) = opts.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Corrupt(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
            }
        }
        let memory = url.contains(":memory:");
        // A checkpoint needs next to no page cache.
        let checkpoint_opts = opts
            .clone()
            .create_if_missing(false)
            .pragma("cache_size", "-256");
        let reader_opts = opts.clone().create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                        .fetch_one(&mut *conn)
                        .await?;
                    let pages = WAL_CHECKPOINT_BYTES / page.max(512);
                    sqlx::query(&format!("PRAGMA wal_autocheckpoint = {pages}"))
                        .execute(&mut *conn)
                        .await?;
                    // A statement that changes many rows and may fail halfway (the release's
                    // claim and record: one statement each over a round's notices, calling
                    // `->>`) keeps a journal of the pages it changes, so that it alone can be
                    // undone. SQLite keeps that journal in a temporary file once past 64 KiB;
                    // the claim and the record wrote ~5 MB a round there, ~5 % of a release's
                    // CPU samples, most of it in `pwrite` (BENCHMARKS.md, issue 18, seventeenth
                    // round). In memory it costs a copy of each page.
                    // The writer's statements that change many rows work in bounded batches
                    // (a release round, a retention batch), so that memory is bounded too.
                    sqlx::query("PRAGMA temp_store = MEMORY")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        // Opened after the migrations, on the database they made.
        let reader = if memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(reader_opts)
                .await?
        };
        Ok(SqliteStore {
            pool,
            reader,
            health: HealthState::new("sqlite"),
            checkpointer: (!memory).then(|| checkpoint::Checkpointer::start(checkpoint_opts)),
        })
    }
}

/// WAL size at which SQLite copies it back into the database (see `open_with`).
const WAL_CHECKPOINT_BYTES: i64 = 32 << 20;

fn parse_event(body: &str) -> Result<Event> {
    Event::parse(body.as_bytes()).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
}

fn ids_json(ids: &[i64]) -> String {
    serde_json::to_string(ids).expect("ids serialize")
}

#[async_trait]
impl Store for SqliteStore {
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
        Ok(Box::new(SqliteTx {
            tx: self.pool.begin().await.map_err(|e| self.health.db(e))?,
        }))
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM ( \
               SELECT * FROM (SELECT due_at AS t FROM notices INDEXED BY notices_due \
                              WHERE state = 'pending' AND grouped = 1 ORDER BY due_at LIMIT 1) \
               UNION ALL \
               SELECT * FROM (SELECT due_at FROM notices INDEXED BY notices_staged \
                              WHERE state = 'pending' AND grouped = 0 ORDER BY due_at LIMIT 1) \
               UNION ALL \
               SELECT * FROM (SELECT claimed_until FROM notices INDEXED BY notices_lease \
                              WHERE state = 'claimed' ORDER BY claimed_until LIMIT 1))",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.health.db(e))?;
        Ok(ms.map(from_ms))
    }

    async fn prepare_due(&self, until: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(|e| self.health.db(e))?;
        let merged = merge_staged(&mut tx, until)
            .await
            .map_err(|e| self.health.db(e))?;
        tx.commit().await.map_err(|e| self.health.db(e))?;
        Ok(merged)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        groups: u32,
    ) -> Result<Vec<StoredNotice>> {
        let sql = claim_query();
        let mut tx = self.pool.begin().await.map_err(|e| self.health.db(e))?;
        // Merge first: every staged notice that is due joins the recipient-keyed index
        // (migration 0100), so the claim below bundles all of a recipient's due notices.
        merge_staged(&mut tx, now)
            .await
            .map_err(|e| self.health.db(e))?;
        // The claimable rows are read, their messages composed and recorded (the outbox), and
        // then each row is claimed and linked to its message in one write: a row is rewritten
        // once per claim, not twice. The merge above holds the write lock from the start.
        // All of it on the raw connection, in one go: through sqlx, sqlx's thread sent the
        // rows fifty at a time and waited for a runtime worker to take each fifty, while the
        // round before rendered on every core; the claim, which holds the one connection the
        // round's records wait for, took half as long again (BENCHMARKS.md, issue 18, tenth
        // round).
        // The rows' reasons are decoded after the commit, off the writer's connection.
        let (mut out, reasons) = self.health.observe(
            raw::with_raw(&mut tx, |db| {
                let mut rows = Vec::new();
                db.prepare(&sql)?.run_rows(
                    &[
                        to_ms(now).into(),
                        (groups as i64).into(),
                        (groups as i64 * 8).into(),
                    ],
                    |row| rows.push(reasons_undecoded(&row)),
                )?;
                // The due groups in the gaps between those rows, up to an eighth as many
                // again: their pages are written anyway (`gap_fill`).
                let fill = groups as i64 / 8;
                if fill > 0 {
                    let mut ids: Vec<i64> = rows.iter().flatten().map(|(n, _)| n.id).collect();
                    let gaps = gap_fill::gaps_after(&mut ids);
                    db.prepare(&gap_fill::query())?.run_rows(
                        &[to_ms(now).into(), json(&gaps).as_str().into(), fill.into()],
                        |row| rows.push(reasons_undecoded(&row)),
                    )?;
                }
                let (mut out, reasons): (Vec<_>, Vec<_>) = rows
                    .into_iter()
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .unzip();
                let plan = outbox::compose(&out);
                let ids = record_messages(db, &plan, now)?;
                outbox::link(&mut out, &plan.new, &ids);
                claimed::mark(db, &mut out, lease_until)?;
                Ok((out, reasons))
            })
            .await,
        )?;
        tx.commit().await.map_err(|e| self.health.db(e))?;
        self.health.ok();
        // A row whose reasons cannot be read fails the claim, as it did when they were read
        // before the commit; its lease runs out, and the next claim reports it again.
        for (n, stored) in out.iter_mut().zip(&reasons) {
            n.reasons = super::reasons::decode(stored)?;
        }
        out.sort_by(|a, b| {
            (&a.school, &a.recipient, a.channel, a.due_at, a.id).cmp(&(
                &b.school,
                &b.recipient,
                b.channel,
                b.due_at,
                b.id,
            ))
        });
        Ok(out)
    }

    fn record_at_most(&self, round: usize) -> usize {
        round
    }

    async fn finish(&self, outcomes: &[(Vec<i64>, Outcome)]) -> Result<()> {
        // Without an fsync of its own: a lost record only sends the message again under its
        // key, and the next claim's commit or the checkpoint syncs it soon after (`unsynced`).
        let mut conn = unsynced::Unsynced::acquire(&self.pool, self.checkpointer.is_some())
            .await
            .map_err(|e| self.health.db(e))?;
        let mut tx = conn.begin().await.map_err(|e| self.health.db(e))?;
        for (ids, outcome) in outcomes {
            if matches!(outcome, Outcome::Defer { .. }) {
                dissolve_unsent(&mut tx, ids)
                    .await
                    .map_err(|e| self.health.db(e))?;
            }
        }
        self.health
            .observe(claimed::finish(&mut tx, outcomes).await)?;
        tx.commit().await.map_err(|e| self.health.db(e))?;
        conn.restore().await.map_err(|e| self.health.db(e))?;
        Ok(())
    }

    async fn events(&self, ids: &[String]) -> Result<HashMap<String, Event>> {
        let rows = sqlx::query(
            "SELECT id, body FROM events WHERE id IN (SELECT value FROM json_each(?1)) \
             AND purged_at IS NULL",
        )
        .bind(serde_json::to_string(ids).expect("ids serialize"))
        .fetch_all(&self.reader)
        .await?;
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
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices \
             WHERE (school, record) = (SELECT school, record FROM events WHERE id = ?1) \
             AND event_id = ?1 ORDER BY id"
        ))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn pending_records(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT school, record FROM notices WHERE state = 'pending' ORDER BY school, record",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn save_directory(&self, json: &str, at: DateTime<Utc>) -> Result<()> {
        let hash = directory_hash(json);
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT hash FROM directory WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        if stored.flatten().as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO directory (id, body, updated_at, hash) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, \
             hash = excluded.hash",
        )
        .bind(json)
        .bind(to_ms(at))
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_directory(&self) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT body FROM directory WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
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
        .await?;
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
        Ok(sqlx::query_scalar(
            "SELECT event_id FROM notices WHERE school = ?1 AND record = ?2 AND recipient = ?3 AND state = 'sent' \
             AND event_id <> ?4 ORDER BY sent_at DESC, id DESC LIMIT 1",
        )
        .bind(school)
        .bind(record)
        .bind(recipient)
        .bind(event_id)
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn messages_sent_since(
        &self,
        school: &str,
        recipient: &str,
        channel: ChannelKind,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(DISTINCT COALESCE(message_id, message_key)) FROM notices \
             WHERE school = ?1 AND recipient = ?2 AND channel = ?3 \
             AND state = 'sent' AND sent_at >= ?4",
        )
        .bind(school)
        .bind(recipient)
        .bind(channel.as_str())
        .bind(to_ms(since))
        .fetch_one(&self.reader)
        .await?)
    }

    async fn mark_gone(&self, marks: &[GoneMark]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for m in marks {
            sqlx::query(
                "INSERT INTO gone_contacts (school, recipient, contact_id, channel, reason, marked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (school, recipient, contact_id) \
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

    async fn gone_contacts(&self) -> Result<Vec<GoneMark>> {
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT school, recipient, contact_id, channel, reason, marked_at FROM gone_contacts \
             ORDER BY marked_at, school, recipient, contact_id",
        )
        .fetch_all(&self.pool)
        .await?;
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
        let mut tx = self.pool.begin().await?;
        for k in keys {
            sqlx::query(
                "DELETE FROM gone_contacts WHERE school = ?1 AND recipient = ?2 AND contact_id = ?3",
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

    async fn resend_dead(&self, event_id: Option<&str>, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT id, due_at, reasons, school, channel FROM notices \
             WHERE state = 'dead' AND (?1 IS NULL OR event_id = ?1)",
        )
        .bind(event_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut moves = state_counts::Moves::default();
        for (id, due_at, reasons, school, channel) in &rows {
            moves.moved(school, channel, "dead", "pending");
            let reasons = super::resent_reasons(reasons, from_ms(*due_at), now)?;
            sqlx::query(
                "UPDATE notices SET state = 'pending', due_at = ?2, attempts = 0, claimed_until = NULL, \
                 reasons = ?3, message_id = NULL, message_key = NULL WHERE id = ?1",
            )
            .bind(id)
            .bind(to_ms(now))
            .bind(reasons)
            .execute(&mut *tx)
            .await?;
        }
        moves.write_on(&mut tx).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn add_notices(&self, notices: &[Notice]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let added = insert_notices(&mut tx, notices).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn health(&self) -> Health {
        // From the maintained counters (migration 0060): a probe is cheap whatever the
        // backlog.
        let probe = health::probe(
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(SUM(count), 0) FROM notice_counts WHERE state = 'pending'",
            )
            .fetch_one(&self.pool),
        )
        .await;
        self.health
            .snapshot(probe, self.pool.size(), self.pool.num_idle() as u32)
    }
}

struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl Tx for SqliteTx {
    async fn event(&mut self, id: &str) -> Result<Option<Event>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM events WHERE id = ?1 AND purged_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await?;
        body.map(|b| parse_event(&b)).transpose()
    }

    async fn record_release(
        &mut self,
        school: &str,
        release_key: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO releases (school, release_key, released_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (school, release_key) DO UPDATE SET released_at = MIN(released_at, excluded.released_at)",
        )
        .bind(school)
        .bind(release_key)
        .bind(to_ms(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn records_waiting_for(
        &mut self,
        school: &str,
        release_key: &str,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT record FROM notices INDEXED BY notices_release \
             WHERE school = ?1 AND release_key = ?2 AND release_key IS NOT NULL AND state = 'pending' \
             ORDER BY record",
        )
        .bind(school)
        .bind(release_key)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    async fn add_unresolved(
        &mut self,
        rows: &[super::unresolved::Unresolved],
    ) -> Result<Vec<(String, String)>> {
        // Rare (the directory lags the SIS): a statement or two per row is fine.
        let mut first = Vec::new();
        for r in rows {
            let waiting: Option<i64> = sqlx::query_scalar(
                "SELECT since FROM unresolved WHERE school = ?1 AND student = ?2 \
                 AND dead_at IS NULL LIMIT 1",
            )
            .bind(&r.school)
            .bind(&r.student)
            .fetch_optional(&mut *self.tx)
            .await?;
            sqlx::query(
                "INSERT INTO unresolved (event_id, school, student, record, since) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&r.event_id)
            .bind(&r.school)
            .bind(&r.student)
            .bind(&r.record)
            .bind(to_ms(r.since))
            .execute(&mut *self.tx)
            .await?;
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        .await?;
        Ok(())
    }

    async fn quarantine_bytes(&mut self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(SUM(kept), 0) FROM quarantine")
                .fetch_one(&mut *self.tx)
                .await?,
        )
    }

    async fn event_hashes(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, hash, body FROM events WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json(ids))
        .fetch_all(&mut *self.tx)
        .await?;
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

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    // The batch forms: a few statements per batch, so a batch of 1 000 events costs a handful
    // of round trips to SQLite's worker thread. Writes bind rows as multi-row VALUES; look-ups
    // pass their keys as one JSON array (json_each).

    async fn insert_events(
        &mut self,
        events: &[&Event],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        let received = to_ms(received_at);
        // One prepared single-row statement for the batch; whether a row went in is
        // `sqlite3_changes`, not a `RETURNING` row (see `raw`). An id repeated within the
        // batch is new the first time only, as each row sees the ones before it.
        raw::with_raw(&mut self.tx, |db| {
            let mut insert = db.prepare(
                "INSERT INTO events (id, school, type, record, occurred_at, received_at, body, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
            )?;
            events
                .iter()
                .map(|e| {
                    let (body, hash) = super::retention::body_and_hash(e);
                    let n = insert.run(&[
                        (&e.id).into(),
                        (&e.school).into(),
                        e.type_name().into(),
                        (&e.record).into(),
                        to_ms(e.occurred_utc()).into(),
                        received.into(),
                        (&body).into(),
                        (&hash).into(),
                    ])?;
                    Ok(n == 1)
                })
                .collect()
        })
        .await
    }

    async fn events_by_id(&mut self, ids: &[String]) -> Result<HashMap<String, Event>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, body FROM events WHERE id IN (SELECT value FROM json_each(?1)) \
             AND purged_at IS NULL",
        )
        .bind(json(ids))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|(id, body)| Ok((id.clone(), parse_event(body)?)))
            .collect()
    }

    async fn currents(&mut self, records: &[RecordKey]) -> Result<HashMap<RecordKey, Current>> {
        if records.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT r.school, r.record, r.event_id, r.occurred_at FROM json_each(?1) AS j \
             JOIN records AS r ON r.school = j.value->>0 AND r.record = j.value->>1",
        )
        .bind(json(records))
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(school, record, event_id, ms)| {
                (
                    (school, record),
                    Current {
                        event_id,
                        occurred_at: from_ms(ms),
                    },
                )
            })
            .collect())
    }

    async fn set_currents(&mut self, items: &[(RecordKey, Current)]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        raw::with_raw(&mut self.tx, |db| {
            let mut upsert = db.prepare(
                "INSERT INTO records (school, record, event_id, occurred_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (school, record) DO UPDATE SET event_id = excluded.event_id, \
                 occurred_at = excluded.occurred_at",
            )?;
            for ((school, record), cur) in items {
                upsert.run(&[
                    school.into(),
                    record.into(),
                    (&cur.event_id).into(),
                    to_ms(cur.occurred_at).into(),
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn releases(&mut self, keys: &[RecordKey]) -> Result<HashMap<RecordKey, DateTime<Utc>>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT r.school, r.release_key, r.released_at FROM json_each(?1) AS j \
             JOIN releases AS r ON r.school = j.value->>0 AND r.release_key = j.value->>1",
        )
        .bind(json(keys))
        .fetch_all(&mut *self.tx)
        .await?;
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
        let rows: Vec<super::DeliveredRow> = sqlx::query_as(
            "SELECT n.school, n.record, n.recipient, n.channel, n.event_id, n.sent_at \
             FROM json_each(?1) AS j JOIN notices AS n INDEXED BY notices_once \
             ON n.school = j.value->>0 AND n.record = j.value->>1 \
             WHERE n.state = 'sent' ORDER BY n.sent_at, n.id",
        )
        .bind(json(records))
        .fetch_all(&mut *self.tx)
        .await?;
        super::delivered_by_record(rows)
    }

    async fn replace_pending_of(
        &mut self,
        records: &[RecordKey],
        notices: &[Notice],
    ) -> Result<()> {
        if !records.is_empty() {
            // A superseded notice leaves its message (one back from a transient failure): a
            // withdrawn or corrected value is never sent again. An emptied message goes.
            let messages: Vec<Option<i64>> = sqlx::query_scalar(
                "DELETE FROM notices WHERE id IN (SELECT n.id FROM json_each(?1) AS j \
                 JOIN notices AS n INDEXED BY notices_once \
                 ON n.school = j.value->>0 AND n.record = j.value->>1 WHERE n.state = 'pending') \
                 RETURNING message_id",
            )
            .bind(json(records))
            .fetch_all(&mut *self.tx)
            .await?;
            drop_emptied_messages(&mut self.tx, messages).await?;
        }
        insert_notices(&mut self.tx, notices).await?;
        Ok(())
    }
}

/// Stores notices, keeping any notice already stored for the same event, recipient and
/// channel (the same key: claimed or sent under it); returns how many were new.
///
/// One prepared single-row statement on the raw connection (see `raw`), and the notice
/// counters (`notice_counts`, migration 0060) moved once per (school, channel) for the whole
/// batch rather than by a trigger per row (migration 0080): this is the only place that
/// inserts notices.
async fn insert_notices(tx: &mut Transaction<'static, Sqlite>, notices: &[Notice]) -> Result<u64> {
    if notices.is_empty() {
        return Ok(0);
    }
    raw::with_raw(tx, |db| {
        let mut insert = db.prepare(
            "INSERT INTO notices (key, school, record, event_id, student, recipient, role, channel, \
             kind, due_at, release_key, reasons) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (school, record, event_id, recipient, channel) DO NOTHING",
        )?;
        let mut added: HashMap<(&str, &str), i64> = HashMap::new();
        let mut reasons = Vec::new();
        for n in notices {
            reasons.clear();
            super::reasons::encode_into(&mut reasons, &n.reasons);
            let reasons = std::str::from_utf8(&reasons).expect("JSON is UTF-8");
            let stored = insert.run(&[
                (&n.key).into(),
                (&n.school).into(),
                (&n.record).into(),
                (&n.event_id).into(),
                (&n.student).into(),
                (&n.recipient).into(),
                n.role.as_str().into(),
                n.channel.as_str().into(),
                n.kind.as_str().into(),
                to_ms(n.due_at).into(),
                n.release_key.as_ref().into(),
                reasons.into(),
            ])?;
            if stored == 1 {
                *added.entry((&n.school, n.channel.as_str())).or_default() += 1;
            }
        }
        drop(insert);
        let mut count = db.prepare(
            "INSERT INTO notice_counts (school, channel, state, count) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT (school, channel, state) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((school, channel), n) in &added {
            count.run(&[(*school).into(), (*channel).into(), (*n).into()])?;
        }
        Ok(added.values().sum::<i64>() as u64)
    })
    .await
}

/// Records a claim's messages (see [`outbox`]); returns the rows of `plan.new`, in order.
fn record_messages(
    db: raw::Db<'_>,
    plan: &outbox::Composition,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    if !plan.again.is_empty() {
        db.prepare(
            "UPDATE messages SET claims = claims + 1 WHERE id IN (SELECT value FROM json_each(?1))",
        )?
        .run(&[json(&plan.again).as_str().into()])?;
    }
    if plan.new.is_empty() {
        return Ok(vec![]);
    }
    // The same notices put together again (after `resend`) make the same key: that row. One
    // statement for the claim's messages, not one per message (~1 000 a round), each with its
    // own reset, binds and RETURNING; the rows come back by key.
    let rows: Vec<(&str, &str, &str, &str)> = plan
        .new
        .iter()
        .map(|m| {
            (
                m.key.as_str(),
                m.school.as_str(),
                m.recipient.as_str(),
                m.channel.as_str(),
            )
        })
        .collect();
    let mut by_key = HashMap::with_capacity(rows.len());
    db.prepare(
        "INSERT INTO messages (key, school, recipient, channel, created_at) \
         SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, ?2 FROM json_each(?1) AS j \
         WHERE true ON CONFLICT (key) DO UPDATE SET claims = claims + 1 RETURNING id, key",
    )?
    .run_rows(&[json(&rows).as_str().into(), to_ms(now).into()], |row| {
        by_key.insert(row.text(1).to_owned(), row.int(0));
    })?;
    plan.new
        .iter()
        .map(|m| {
            by_key.get(&m.key).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("message {:?} not stored by its claim", m.key))
            })
        })
        .collect()
}

/// The claim's read: the groups of the first due rows (and of expired leases), then every
/// claimable row of those groups. Each step walks an index, so a claim costs O(batch), not
/// O(table); the first step reads its rows' groups from `notices_due` itself (migration 0120).
/// `?1` is now, `?2` the groups to take, `?3` the rows looked at to find them (a group holds
/// a few notices on average).
///
/// Groups due at the same instant go in the order their first notice arrived: the recipient
/// who has waited longest first, and a round's notices lie together in the table (they
/// arrived together), so a round rewrites fewer of its pages and reads its events from fewer.
/// Before, such ties went in recipient order; in the bench's backlog a round of 1 024 groups
/// touched 160–200 of the table's pages, and now all but the last few touch ~100
/// (BENCHMARKS.md, issue 18, twenty-first round).
///
/// The last few took groups whose rows lay between rows claimed long before: a round now
/// also takes those of its gaps ([`gap_fill`]).
fn claim_query() -> String {
    format!(
        "WITH cand AS ( \
           SELECT * FROM (SELECT school, recipient, channel, due_at AS t, id \
                          FROM notices INDEXED BY notices_due \
                          WHERE state = 'pending' AND grouped = 1 AND due_at <= ?1 \
                          ORDER BY due_at LIMIT ?3) \
           UNION ALL \
           SELECT * FROM (SELECT school, recipient, channel, claimed_until AS t, id \
                          FROM notices INDEXED BY notices_lease \
                          WHERE state = 'claimed' AND claimed_until <= ?1 \
                          ORDER BY claimed_until LIMIT ?3)), \
         g AS (SELECT school, recipient, channel FROM cand \
               GROUP BY school, recipient, channel ORDER BY MIN(t), MIN(id) LIMIT ?2) \
         {}",
        claimable_rows_of("g")
    )
}

/// Every claimable row of the groups (school, recipient, channel) in the table or CTE
/// `groups`: its due rows (`notices_group`) and its rows whose lease ran out. `?1` is now.
/// The claim's read and its gaps' read ([`gap_fill`]) end in this.
fn claimable_rows_of(groups: &str) -> String {
    format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE id IN ( \
           SELECT n.id FROM {groups} AS x CROSS JOIN notices AS n INDEXED BY notices_group \
             ON n.school = x.school AND n.recipient = x.recipient AND n.channel = x.channel \
             WHERE n.state = 'pending' AND n.grouped = 1 AND n.due_at <= ?1 \
           UNION ALL \
           SELECT id FROM notices INDEXED BY notices_lease \
             WHERE state = 'claimed' AND claimed_until <= ?1 \
             AND (school, recipient, channel) IN {groups})"
    )
}

/// Moves the staged notices due by `until` into the recipient-keyed index the claim bundles
/// by (migration 0100). Returns how many.
///
/// `OR FAIL`: SQLite would otherwise copy every page the statement changes into a statement
/// journal (a temporary file), so that a constraint failure undoes the statement alone. Here
/// nothing can fail (`grouped` is set to 1 and no trigger watches it), and an error rolls the
/// whole transaction back anyway; a release's first merge changes most pages of the notices
/// and their indexes (BENCHMARKS.md, issue 18, fourteenth round).
async fn merge_staged(
    tx: &mut Transaction<'static, Sqlite>,
    until: DateTime<Utc>,
) -> std::result::Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE OR FAIL notices SET grouped = 1 WHERE id IN ( \
           SELECT id FROM notices INDEXED BY notices_staged \
           WHERE state = 'pending' AND grouped = 0 AND due_at <= ?1)",
    )
    .bind(to_ms(until))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes the messages (of these, from notices just deleted) that no notice is in any more:
/// a message row lives as long as its notices (superseded, purged or erased).
pub(super) async fn drop_emptied_messages(
    tx: &mut Transaction<'static, Sqlite>,
    messages: Vec<Option<i64>>,
) -> std::result::Result<(), sqlx::Error> {
    let mut messages: Vec<i64> = messages.into_iter().flatten().collect();
    messages.sort_unstable();
    messages.dedup();
    if !messages.is_empty() {
        sqlx::query(
            "DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1)) \
             AND NOT EXISTS (SELECT 1 FROM notices WHERE message_id = messages.id)",
        )
        .bind(json(&messages))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A deferred message that no claim before this one took cannot have been sent: its notices
/// leave it, free to bundle with others at their new time, and it goes.
async fn dissolve_unsent(
    tx: &mut Transaction<'_, Sqlite>,
    notices: &[i64],
) -> std::result::Result<(), sqlx::Error> {
    let unsent: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT m.id FROM notices AS n JOIN messages AS m ON m.id = n.message_id \
         WHERE n.id IN (SELECT value FROM json_each(?1)) AND m.claims = 1",
    )
    .bind(ids_json(notices))
    .fetch_all(&mut **tx)
    .await?;
    if unsent.is_empty() {
        return Ok(());
    }
    let unsent = ids_json(&unsent);
    sqlx::query(
        "UPDATE notices SET message_id = NULL, message_key = NULL \
         WHERE message_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(&unsent)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1))")
        .bind(&unsent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rows for `json_each`.
pub(super) fn json<T: serde::Serialize + ?Sized>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`, its parameters left unbound): one line
    /// per step, such as `SEARCH notices USING INTEGER PRIMARY KEY (rowid=?)`.
    pub(super) async fn query_plan(store: &SqliteStore, sql: &str) -> Vec<String> {
        sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect()
    }

    /// The writer keeps statement journals in memory, on a new connection too (a record that
    /// fails closes its connection: `unsynced`); the release's claim and record would
    /// otherwise write them to a temporary file (`open_with`).
    #[tokio::test]
    async fn the_writer_keeps_statement_journals_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rustig.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        for _ in 0..2 {
            let mut conn = store.pool.acquire().await.unwrap();
            let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(temp_store, 2, "MEMORY");
            conn.close_on_drop();
        }
    }

    /// The claim reads the groups of the first due rows from `notices_due` alone, without a
    /// look-up of each row in the table (migration 0120): SQLite's plan for the claim's read
    /// names it as a covering index.
    #[tokio::test]
    async fn the_claim_finds_its_groups_without_reading_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rustig.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let plan = query_plan(&store, &claim_query()).await;
        assert!(
            plan.iter()
                .any(|d| d.contains("USING COVERING INDEX notices_due")),
            "the claim's plan: {plan:#?}"
        );
    }

    /// Every step of the claim's two reads that reads the notices seeks, by rowid or by an
    /// index: the gaps' rows are looked up one by one, never found by a scan.
    #[tokio::test]
    async fn the_claim_seeks_every_notice_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rustig.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let own = [
            "SCAN x",
            "SCAN g",
            "SCAN f",
            "SCAN j",
            "SCAN cand",
            "SCAN (subquery",
        ];
        for sql in [claim_query(), gap_fill::query()] {
            let plan = query_plan(&store, &sql).await;
            let scans: Vec<&String> = plan
                .iter()
                .filter(|d| d.starts_with("SCAN ") && !own.iter().any(|s| d.starts_with(s)))
                .collect();
            assert!(scans.is_empty(), "{scans:?} in the plan: {plan:#?}");
        }
        let plan = query_plan(&store, &gap_fill::query()).await;
        assert!(
            plan.iter()
                .any(|d| d.starts_with("SEARCH a USING INTEGER PRIMARY KEY")),
            "the gaps' plan: {plan:#?}"
        );
    }
}
