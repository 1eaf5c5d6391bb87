//! Wiring: config → store → directory → sources, scheduler and channels; and an orderly stop.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::Ingestor;
use crate::model::ChannelKind;
use crate::reload::{initial_directory, ReloadError, Reloader};
use crate::render::Renderer;
use crate::scheduler::Dispatcher;
use crate::send::email::EmailChannel;
use crate::send::Channels;
use crate::shared::Shared;
use crate::source::amqp::AmqpSource;
use crate::source::health::SourceHealth;
use crate::source::http::HttpSource;
use crate::source::nats::NatsSource;
use crate::source::Source;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Reload(#[from] ReloadError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error("email: {0}")]
    Email(String),
    #[error(transparent)]
    Http(#[from] crate::source::http::HttpSourceError),
    #[error(transparent)]
    Channel(#[from] crate::send::setup::ChannelSetupError),
    #[error(transparent)]
    Nats(#[from] crate::source::nats::NatsSourceError),
    #[error(transparent)]
    Amqp(#[from] crate::source::amqp::AmqpSourceError),
    #[error(transparent)]
    Sis(#[from] crate::source::sis::SisSetupError),
    #[error(transparent)]
    Prefs(#[from] crate::prefs::PrefsError),
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
}

/// A running daemon.
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    /// The families' preference page (`[preferences] listen`), when configured.
    pub prefs_addr: Option<SocketAddr>,
    /// The preference page's state, for the admin routes (`crate::admin::preferences`).
    pub prefs: Option<Arc<crate::prefs::Prefs>>,
    /// The admin API's address, when `[admin]` is configured.
    pub admin_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    pub store: Arc<dyn Store>,
    pub ingestor: Arc<Ingestor>,
    /// One per configured source, for health checks and the admin API.
    pub sources: Vec<Arc<SourceHealth>>,
    /// Applies a new config or directory (SIGHUP, the admin API).
    pub reloader: Arc<Reloader>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts the daemon on `clock`.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Running, DaemonError> {
    // Before anything counts; `GET /metrics` renders it (src/admin/metrics.rs).
    let metrics = crate::observe::metrics::install();
    let store = crate::store::open(&config.store_url).await?;
    let directory = initial_directory(&config, &*store, clock.now()).await?;
    let renderer = Arc::new(Renderer::load(config.templates_dir.as_deref())?);
    let email = Arc::new(
        EmailChannel::new(&config.email)
            .await
            .map_err(|e| DaemonError::Email(e.to_string()))?,
    );
    let channels = crate::send::setup::add_configured(
        Channels::default().with(ChannelKind::Email, email.clone()),
        &config,
    )?;
    crate::observe::metrics::zero(channels.kinds());
    // Not `counts()`: counting a large backlog would delay the start by seconds.
    let next_due = store.next_due().await?;
    // Local time with offset, or "none": an operator reads it, not a debugger.
    let tz = config.default_policy.calendar.tz;
    tracing::info!(
        store = %config.store_url,
        students = directory.len(),
        next_due = %next_due
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .unwrap_or_else(|| "none".into()),
        "rustig starting"
    );
    let http_cfg = config.http.clone();
    let (nats_cfgs, amqp_cfgs) = (config.nats.clone(), config.amqp.clone());
    let sis_cfg = config.sis.clone();
    let prefs_cfg = config.preferences.clone();
    let admin_cfg = config.admin.clone();
    let shared = Shared::new(config, directory);
    crate::prefs::load_choices(&*store, &shared).await?;
    shared.set_gone(crate::shared::load_gone(&*store, &shared.listed_directory()).await?);
    let ingestor = Arc::new(Ingestor::new(store.clone(), shared.clone()));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut http_addr = None;
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    let mut health = Vec::new();
    if let Some(cfg) = http_cfg {
        let source = HttpSource::bind(&cfg, ingestor.clone(), clock.clone()).await?;
        http_addr = Some(source.local_addr());
        let h = SourceHealth::new(source.name());
        h.set_connected(true);
        health.push(h);
        sources.push(Box::new(source));
    }
    // All brokers are checked before anything runs: a missing stream or queue stops the start.
    for cfg in &nats_cfgs {
        let source = NatsSource::connect(cfg, ingestor.clone(), clock.clone()).await?;
        health.push(source.health());
        sources.push(Box::new(source));
    }
    for cfg in &amqp_cfgs {
        let source = AmqpSource::connect(cfg, ingestor.clone(), clock.clone()).await?;
        health.push(source.health());
        sources.push(Box::new(source));
    }
    let sis = crate::source::sis::start(&sis_cfg, &ingestor, &store, &clock)?;
    sources.extend(sis.sources);
    health.extend(sis.health);
    if let Some(sync) = sis.sync {
        tasks.spawn(sync.run(stop_rx.clone()));
    }
    let reloader = Arc::new(Reloader::new(
        store.clone(),
        shared.clone(),
        ingestor.clone(),
        sis.sync_tx.clone(),
    ));
    let mut prefs_addr = None;
    let mut prefs = None;
    let mut links = None;
    if let Some(cfg) = prefs_cfg {
        let keys = crate::prefs::token::Keyring::load(&cfg.key_file)
            .map_err(crate::prefs::PrefsError::from)?;
        let state = crate::prefs::Prefs::new(keys, store.clone(), ingestor.clone(), clock.clone());
        let server = crate::prefs::PrefsServer::bind(&cfg, state.clone()).await?;
        prefs_addr = Some(server.local_addr());
        tracing::info!(listen = %server.local_addr(), "preference page listening");
        tasks.spawn(server.run(stop_rx.clone()));
        let _ = reloader.prefs_keys.set(state.keys.clone());
        links = Some(Arc::new(crate::prefs::links::LinkMaker {
            keys: state.keys.clone(),
            shared: shared.clone(),
            started_with: cfg,
        }));
        prefs = Some(state);
    }
    // Bound before anything runs: a port in use stops the start.
    let mut admin_addr = None;
    if let Some(cfg) = admin_cfg {
        let state = crate::admin::AdminState::new(store.clone(), shared.clone(), clock.clone())
            .with_sources(health.clone())
            .with_email(email.clone())
            .with_daemon(ingestor.clone(), reloader.clone())
            .with_prefs(prefs.clone());
        let server = crate::admin::AdminServer::bind(&cfg, state, crate::dashboard::router).await?;
        let addr = server.local_addr();
        admin_addr = Some(addr);
        tracing::info!(listen = %addr, "admin API listening");
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            if let Err(e) = server.serve(rx).await {
                tracing::error!("admin listener stopped: {e}");
            }
        });
    }
    for source in sources {
        let name = source.name();
        tracing::info!(source = %name, "listening for events");
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            if let Err(e) = source.run(rx).await {
                tracing::error!(source = %name, "source stopped: {e}");
            }
        });
    }
    // PostgreSQL keeps the notice counters' changes as delta rows (migration 0060): folded
    // here, so status, metrics and the health probe read few rows however seldom they run.
    {
        let (store, mut stop) = (store.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let mut every = tokio::time::interval(crate::store::admin::FOLD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        if let Err(e) = store.views().fold_counts().await {
                            tracing::warn!(error = %e, "folding the notice counters failed; trying again");
                        }
                    }
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
            }
        });
    }
    // Choices made through another instance's page (PostgreSQL); whether or not this one
    // serves the page, it plans with them.
    tasks.spawn(crate::prefs::follow::run(
        store.clone(),
        ingestor.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));
    tasks.spawn(crate::observe::metrics::upkeep(metrics, stop_rx.clone()));
    tasks.spawn(crate::retention::run(
        store.clone(),
        shared.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));
    tasks.spawn(crate::unresolved::run(
        ingestor.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));
    let mut dispatcher = Dispatcher::new(store.clone(), shared.clone(), channels, renderer, clock);
    dispatcher.links = links;
    let delivery = shared.config().delivery.clone();
    dispatcher.lease = delivery.lease;
    dispatcher.batch_groups = delivery.batch;
    tasks.spawn(async move { dispatcher.run(stop_rx).await });
    Ok(Running {
        http_addr,
        prefs_addr,
        prefs,
        admin_addr,
        shared,
        store,
        ingestor,
        sources: health,
        reloader,
        stop,
        tasks,
    })
}

impl Running {
    /// Stops intake, lets in-flight sends finish, and returns when everything has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("rustig stopped");
    }

    /// Applies a new config and directory: re-plans every pending notice under the new rules.
    pub async fn reload(
        &self,
        config: Config,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
        self.reloader.reload(config, now).await
    }
}
