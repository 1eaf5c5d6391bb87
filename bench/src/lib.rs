//! `rustig bench` (the `rustig-bench` binary of this workspace member): a synthetic school population and N events that all become due at one
//! instant (Monday 07:00, the end of the weekend blackout), run through the real code paths
//! on a durable store. Measures ingest (in-process and HTTP NDJSON), hold (peak RSS of a
//! daemon process holding the backlog), restart (start → ready with the backlog pending) and
//! release (due → handed over, to a null file sink and to a real SMTP server).
//! BENCHMARKS.md explains the figures; `bench/compare` runs the peers.
//!
//! Modules: [`workload`] (population, events, config), [`ingest`], [`daemon`] (hold and
//! restart), [`admin`] (the status and metrics latency during the hold), [`release`],
//! [`sinks`] (null file channel, SMTP server), [`report`].

pub mod admin;
pub mod daemon;
pub mod ingest;
pub mod release;
pub mod report;
pub mod sinks;
pub mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use rustig::config::Config;
use rustig::ingest::Ingestor;
use rustig::model::Directory;
use rustig::shared::Shared;
use rustig::store::Store;

pub use report::{Machine, Report};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] rustig::store::StoreError),
    #[error(transparent)]
    Render(#[from] rustig::render::RenderError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bench config: {0}")]
    Config(String),
    #[error("HTTP ingest: {0}")]
    Http(String),
    #[error("daemon: {0}")]
    Daemon(String),
    #[error("email: {0}")]
    Email(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// A count that must add up did not.
    #[error("check failed: {0}")]
    Check(String),
}

/// `rustig bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Events in the workload; each plans one notice for the student and one per guardian
    /// (absences: guardians only).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Students in the population (default: events / 5, at most 20 000); 60 % have two
    /// guardians, the rest one.
    #[arg(long)]
    pub students: Option<usize>,
    /// `postgres://…` to measure PostgreSQL (in two fresh schemas, dropped afterwards);
    /// default: a temporary SQLite file (WAL, synchronous = FULL).
    #[arg(long)]
    pub store: Option<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Events per ingest transaction (in-process) and per NDJSON request (HTTP).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent HTTP requests while ingesting over HTTP.
    #[arg(long, default_value_t = 2)]
    pub http_clients: usize,
    /// SMTP connections in the email channel's pool (`[email] pool_size`).
    #[arg(long, default_value_t = 8)]
    pub smtp_pool: u32,
    /// Messages handed over at the same time (`[delivery] concurrency`).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// (school, recipient, channel) groups a release round claims (`[delivery] batch`;
    /// rustig's default when not given).
    #[arg(long)]
    pub claim_groups: Option<u32>,
    /// The notices become due this many seconds after a release run starts.
    #[arg(long, default_value_t = 3)]
    pub lead_secs: u64,
    /// Seconds the daemon idles with the backlog before its memory is read.
    #[arg(long, default_value_t = 2)]
    pub hold_secs: u64,
    /// Work in this folder (created) instead of a temporary one.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the work folder (stores, config, sink file, daemon log) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Skip the daemon process (hold and restart).
    #[arg(long)]
    pub no_daemon: bool,
    /// Skip the SMTP release.
    #[arg(long)]
    pub no_smtp: bool,
    /// Post the HTTP batches to this process's HTTP source (no scheduler running) instead of
    /// a `rustig run` process (whose scheduler wakes after every batch).
    #[arg(long)]
    pub http_in_process: bool,
    /// Requests to `GET /v1/status` and to `GET /metrics` on the daemon's admin listener
    /// during the hold, for their latency with the backlog pending (0: not measured).
    #[arg(long, default_value_t = 200)]
    pub admin_requests: usize,
    /// The `rustig` binary for the daemon phase (default: the one next to this executable;
    /// without one the daemon phase is skipped, and the report says so).
    #[arg(long)]
    pub daemon_bin: Option<PathBuf>,
}

impl Options {
    /// The defaults with `events` events (for tests and tools).
    pub fn with_events(events: usize) -> Options {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            o: Options,
        }
        let mut o = P::parse_from(["bench"]).o;
        o.events = events;
        o
    }
}

/// The two stores of a run: A (ingested in-process; daemon; null release) and B (ingested
/// over HTTP; SMTP release).
struct Stores {
    urls: [String; 2],
    sqlite_files: Option<[PathBuf; 2]>,
    postgres: Option<(String, [String; 2])>,
}

fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

impl Stores {
    async fn prepare(store: Option<&str>, work: &Path) -> Result<Stores, BenchError> {
        match store {
            None => {
                let files = [work.join("a.db"), work.join("b.db")];
                Ok(Stores {
                    urls: [0, 1].map(|i| format!("sqlite://{}", files[i].display())),
                    sqlite_files: Some(files),
                    postgres: None,
                })
            }
            Some(base) if base.starts_with("postgres") => {
                use sqlx::Connection;
                let stamp = Utc::now().timestamp_millis();
                let schemas =
                    ["a", "b"].map(|t| format!("rustig_bench_{}_{stamp}_{t}", std::process::id()));
                let mut c = sqlx::PgConnection::connect(base)
                    .await
                    .map_err(|e| BenchError::Postgres(e.to_string()))?;
                for s in &schemas {
                    sqlx::query(&format!("CREATE SCHEMA {s}"))
                        .execute(&mut c)
                        .await
                        .map_err(|e| BenchError::Postgres(e.to_string()))?;
                }
                let _ = c.close().await;
                Ok(Stores {
                    urls: [0, 1].map(|i| with_search_path(base, &schemas[i])),
                    sqlite_files: None,
                    postgres: Some((base.to_string(), schemas)),
                })
            }
            Some(other) => Err(BenchError::Config(format!(
                "--store {other:?}: expected postgres://… (the default is a temporary SQLite file)"
            ))),
        }
    }

    /// Bytes on disk of store `i`.
    async fn size(&self, i: usize) -> Option<u64> {
        if let Some(files) = &self.sqlite_files {
            let f = &files[i];
            let wal = PathBuf::from(format!("{}-wal", f.display()));
            let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            return Some(len(f) + len(&wal));
        }
        let (base, schemas) = self.postgres.as_ref()?;
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(base).await.ok()?;
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT SUM(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
        )
        .bind(&schemas[i])
        .fetch_one(&mut c)
        .await
        .ok()?;
        let _ = c.close().await;
        n.map(|n| n as u64)
    }

    async fn drop_all(&self) {
        if let Some((base, schemas)) = &self.postgres {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::PgConnection::connect(base).await {
                for s in schemas {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                        .execute(&mut c)
                        .await;
                }
                let _ = c.close().await;
            }
        }
    }
}

fn free_port() -> Result<u16, BenchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), BenchError> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Check(what()))
    }
}

/// What the pending backlog looked like after ingest.
#[derive(Debug, Clone, Serialize)]
pub struct Backlog {
    pub events: i64,
    pub pending_notices: i64,
    /// Bytes on disk (SQLite file and WAL; PostgreSQL tables with indexes and TOAST).
    pub store_bytes: Option<u64>,
}

/// Runs every phase; `progress` gets a line per step (for the terminal).
pub async fn run(opts: &Options, progress: &dyn Fn(&str)) -> Result<Report, BenchError> {
    let work = match &opts.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "rustig-bench-{}-{}",
            std::process::id(),
            Utc::now().timestamp_millis()
        )),
    };
    std::fs::create_dir_all(&work)?;
    let stores = Stores::prepare(opts.store.as_deref(), &work).await?;
    let result = run_in(opts, &work, &stores, progress).await;
    if !opts.keep {
        stores.drop_all().await;
        if opts.work_dir.is_none() {
            let _ = std::fs::remove_dir_all(&work);
        }
    }
    result
}

async fn run_in(
    opts: &Options,
    work: &Path,
    stores: &Stores,
    progress: &dyn Fn(&str),
) -> Result<Report, BenchError> {
    let machine_before = Machine::read();
    let students = opts
        .students
        .unwrap_or_else(|| workload::default_students(opts.events));
    progress(&format!(
        "generating {} events for {students} students",
        opts.events
    ));
    let wl = workload::generate(opts.events, students, opts.batch, Utc::now());

    let directory_file = work.join("directory.json");
    std::fs::write(&directory_file, &wl.directory_json)?;
    // One config per store, each daemon with its own port and outbox.
    let write_config = |name: &str, store: &str, port: u16, outbox: &Path| {
        let path = work.join(name);
        let mut toml = workload::config_toml(
            store,
            &directory_file.display().to_string(),
            port,
            &outbox.display().to_string(),
            wl.due,
        );
        toml.push_str(&format!(
            "\n[delivery]\nconcurrency = {}\n",
            opts.concurrency
        ));
        if let Some(groups) = opts.claim_groups {
            toml.push_str(&format!("batch = {groups}\n"));
        }
        std::fs::write(&path, &toml)?;
        Ok::<_, BenchError>((path, toml))
    };
    let (outbox, outbox_b) = (work.join("outbox"), work.join("outbox-b"));
    let (http_port, http_port_b) = (free_port()?, free_port()?);
    let (config_file, mut toml) = write_config("bench.toml", &stores.urls[0], http_port, &outbox)?;
    // Daemon A serves the admin API too: the hold phase measures its views.
    let admin = match opts.admin_requests {
        0 => None,
        requests => {
            let token = format!(
                "bench-{}-{}",
                std::process::id(),
                Utc::now().timestamp_nanos_opt().unwrap_or(0)
            );
            let token_file = work.join("admin-read.token");
            std::fs::write(&token_file, format!("bench {token}\n"))?;
            let port = free_port()?;
            toml.push_str(&format!(
                "\n[admin]\nlisten = \"127.0.0.1:{port}\"\nread_token_file = \"{}\"\n",
                token_file.display()
            ));
            std::fs::write(&config_file, &toml)?;
            Some(admin::AdminProbe {
                port,
                token,
                requests,
            })
        }
    };
    let (config_file_b, _) = write_config("bench-b.toml", &stores.urls[1], http_port_b, &outbox_b)?;
    let config =
        Config::parse(&config_file, &toml).map_err(|e| BenchError::Config(e.to_string()))?;
    let directory = Directory::parse(wl.directory_json.as_bytes())
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let daemon_bin = match opts.no_daemon {
        true => None,
        false => opts.daemon_bin.clone().or_else(daemon::default_bin),
    };

    // Ingest: A in-process, B over HTTP.
    let store_a = rustig::store::open(&stores.urls[0]).await?;
    let shared_a = Shared::new(config.clone(), directory.clone());
    let ingestor_a = Ingestor::new(store_a.clone(), shared_a.clone());
    progress("ingest, in-process");
    let ingest_a = ingest::in_process(&ingestor_a, &wl.batches).await?;
    check(
        ingest_a.accepted == wl.events as u64 && ingest_a.rejected == 0,
        || {
            format!(
                "in-process ingest acknowledged {} of {} events ({} rejected)",
                ingest_a.accepted, wl.events, ingest_a.rejected
            )
        },
    )?;
    let counts_a = store_a.counts().await?;
    check(counts_a.events == wl.events as i64, || {
        format!(
            "store A holds {} events, expected {}",
            counts_a.events, wl.events
        )
    })?;

    let store_b = rustig::store::open(&stores.urls[1]).await?;
    let shared_b = Shared::new(config.clone(), directory);
    let ingest_b = match daemon_bin.as_ref().filter(|_| !opts.http_in_process) {
        // The real thing: a daemon process, its scheduler awake after every batch.
        Some(bin) => {
            progress("ingest, HTTP NDJSON into `rustig run`");
            let mut d =
                daemon::Daemon::spawn(bin, &config_file_b, &work.join("daemon-ingest.log"))?;
            tokio::task::block_in_place(|| {
                d.wait_for(
                    &mut [("/healthz", &mut || daemon::healthz(http_port_b))],
                    Duration::from_secs(120),
                )
            })?;
            let url = format!("http://127.0.0.1:{http_port_b}/v1/events");
            let r = ingest::http(&url, &wl.batches, opts.http_clients, "daemon").await;
            let clean = tokio::task::block_in_place(|| d.stop())?;
            check(clean, || {
                "the ingest daemon did not stop cleanly on SIGTERM".into()
            })?;
            r?
        }
        None => {
            progress("ingest, HTTP NDJSON into this process's HTTP source");
            let ingestor_b = Arc::new(Ingestor::new(store_b.clone(), shared_b.clone()));
            ingest::http_in_process(ingestor_b, &wl.batches, opts.http_clients).await?
        }
    };
    let counts_b = store_b.counts().await?;
    check(
        ingest_b.accepted == wl.events as u64
            && counts_b.events == wl.events as i64
            && counts_b.pending == counts_a.pending,
        || {
            format!(
                "HTTP ingest acknowledged {} of {} events; store B holds {} events and {} pending notices (A: {})",
                ingest_b.accepted, wl.events, counts_b.events, counts_b.pending, counts_a.pending
            )
        },
    )?;
    let backlog = Backlog {
        events: counts_a.events,
        pending_notices: counts_a.pending,
        store_bytes: stores.size(0).await,
    };

    let mut notes = Vec::new();
    // Hold and restart: a daemon process on store A.
    let hold = match &daemon_bin {
        Some(bin) => {
            ingestor_a
                .ingest(&[&workload::probe_event(Utc::now())], "bench", Utc::now())
                .await?;
            // The daemon gets its own connection to the store.
            drop(ingestor_a);
            progress("hold and restart: `rustig run` on the backlog");
            let setup = daemon::DaemonSetup {
                bin,
                config: &config_file,
                http_port,
                outbox: &outbox,
                log: &work.join("daemon.log"),
                hold: Duration::from_secs(opts.hold_secs),
                limit: Duration::from_secs(120),
                admin: admin.clone(),
            };
            let r = tokio::task::block_in_place(|| daemon::hold_and_restart(&setup))?;
            let pending = store_a.counts().await?.pending;
            check(pending == counts_a.pending, || {
                format!(
                    "after the daemon ran, {pending} notices are pending, expected {}",
                    counts_a.pending
                )
            })?;
            if admin.is_some() {
                for route in ["/v1/status", "/metrics"] {
                    if !r.admin.iter().any(|a| a.route == route) {
                        notes.push(format!("GET {route}: the daemon answers 404, not measured"));
                    }
                }
            }
            Some(r)
        }
        None if opts.no_daemon => {
            notes.push("hold and restart skipped (--no-daemon)".into());
            None
        }
        None => {
            notes.push("hold and restart skipped: no rustig binary (pass --daemon-bin)".into());
            None
        }
    };

    let lead = chrono::Duration::seconds(opts.lead_secs.max(1) as i64);
    let limit = Duration::from_secs(300 + counts_a.pending as u64 / 500);
    let mut releases = Vec::new();

    progress("release to the null sink");
    let sink_file = work.join("null-sink.txt");
    let null = Arc::new(sinks::NullFile::create(&sink_file)?);
    let r = release::run(
        release::Setup {
            store: store_a.clone(),
            shared: shared_a,
            due: wl.due,
            lead,
            limit,
        },
        "null",
        null.clone(),
        || sinks::count_lines(&sink_file).unwrap_or(0),
    )
    .await?;
    verify_release(&r, counts_a.pending)?;
    releases.push(r);

    if opts.no_smtp {
        notes.push("SMTP release skipped (--no-smtp)".into());
    } else {
        let r = smtp_release(opts, store_b.clone(), shared_b, &wl, lead, limit, progress).await?;
        verify_release(&r, counts_b.pending)?;
        releases.push(r);
    }
    drop(store_a);
    drop(store_b);

    Ok(Report {
        machine: machine_before,
        load_after: Machine::loadavg(),
        store: match &opts.store {
            None => "sqlite (WAL, synchronous = FULL)".into(),
            Some(_) => "postgres".into(),
        },
        events: wl.events,
        students: wl.students,
        guardians: wl.guardians,
        due: wl.due.with_timezone(&workload::ZONE).to_rfc3339(),
        batch: opts.batch,
        backlog,
        ingest: vec![ingest_a, ingest_b],
        daemon: hold,
        release: releases,
        notes,
    })
}

fn verify_release(r: &release::ReleaseResult, pending: i64) -> Result<(), BenchError> {
    check(
        r.notices == pending as u64
            && r.pending_before == pending
            && r.after.pending == 0
            && r.after.claimed == 0
            && r.after.dead == 0
            && r.sink_received == r.messages,
        || {
            format!(
                "{} release: {} notices handed over of {pending} pending, in {} messages; the sink got {}; store afterwards {:?}",
                r.sink, r.notices, r.messages, r.sink_received, r.after
            )
        },
    )
}

async fn smtp_release(
    opts: &Options,
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    wl: &workload::Workload,
    lead: chrono::Duration,
    limit: Duration,
    progress: &dyn Fn(&str),
) -> Result<release::ReleaseResult, BenchError> {
    use rustig::config::{EmailConfig, EmailTransportConfig, SmtpConfig, TlsMode};
    use rustig::send::email::EmailChannel;
    progress("release to a real SMTP server on loopback");
    let (port, counts) = sinks::start_smtp_server(opts.smtp_pool + 8)?;
    let email = EmailChannel::new(&EmailConfig {
        transport: EmailTransportConfig::Smtp(SmtpConfig {
            pool_size: opts.smtp_pool,
            tls: Some(TlsMode::None),
            ..SmtpConfig::new(format!("smtp://127.0.0.1:{port}"))
        }),
        from: workload::FROM.into(),
        timeout: Duration::from_secs(30),
        dkim: None,
    })
    .await
    .map_err(|e| BenchError::Email(e.to_string()))?;
    let received = counts.clone();
    release::run(
        release::Setup {
            store,
            shared,
            due: wl.due,
            lead,
            limit,
        },
        "smtp",
        Arc::new(email),
        move || received.messages.load(std::sync::atomic::Ordering::SeqCst),
    )
    .await
}
