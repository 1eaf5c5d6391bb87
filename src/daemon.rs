//! Wiring: config → store → directory → sources, scheduler and channels; and an orderly stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::Ingestor;
use crate::model::directory::DirectoryError;
use crate::model::{ChannelKind, Directory};
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
    #[error("directory {path}: {message}")]
    Directory { path: String, message: String },
    /// One line per problem, each naming the file and the JSON path.
    #[error("{}", .problems.iter().map(|p| format!("directory {path}: {p}")).collect::<Vec<_>>().join("\n"))]
    DirectoryProblems {
        path: String,
        problems: Vec<crate::model::validate::Problem>,
    },
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

/// Reads and validates a directory file.
pub fn read_directory(path: &Path) -> Result<Directory, DaemonError> {
    read_directory_text(path).map(|(dir, _)| dir)
}

/// Reads and validates a directory file; also returns its text.
fn read_directory_text(path: &Path) -> Result<(Directory, String), DaemonError> {
    let err = |message: String| DaemonError::Directory {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let dir = Directory::parse(text.as_bytes()).map_err(|e| match e {
        DirectoryError::Problems(problems) => DaemonError::DirectoryProblems {
            path: path.display().to_string(),
            problems,
        },
        e => err(e.to_string()),
    })?;
    Ok((dir, text))
}

/// The directory in force at start: the configured file (stored for next time), else the
/// one imported earlier, else empty.
pub async fn initial_directory(
    config: &Config,
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Directory, DaemonError> {
    if let Some(path) = &config.directory_file {
        // Stored as read (it parses to the same directory): no second serialized copy, and
        // nothing is written when the file did not change.
        let (dir, text) = read_directory_text(path)?;
        store.save_directory(&text, now).await?;
        return Ok(dir);
    }
    match store.load_directory().await? {
        Some(json) => Directory::parse(json.as_bytes()).map_err(|e| DaemonError::Directory {
            path: "(stored directory)".into(),
            message: e.to_string(),
        }),
        None => {
            tracing::warn!("no directory yet: import one with `rustig import-directory`");
            Ok(Directory::default())
        }
    }
}

/// A running daemon.
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    /// The families' preference page (`[preferences] listen`), when configured.
    pub prefs_addr: Option<SocketAddr>,
    /// The preference page's state, for the admin routes (`crate::prefs::admin::router`).
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
    let store = crate::store::open(&config.store_url).await?;
    let directory = initial_directory(&config, &*store, clock.now()).await?;
    let renderer = Arc::new(Renderer::load(config.templates_dir.as_deref())?);
    let email = EmailChannel::new(&config.email)
        .await
        .map_err(|e| DaemonError::Email(e.to_string()))?;
    let channels = crate::send::setup::add_configured(
        Channels::default().with(ChannelKind::Email, Arc::new(email)),
        &config,
    )?;
    // Not `counts()`: counting a large backlog would delay the start by seconds.
    let next_due = store.next_due().await?;
    tracing::info!(
        store = %config.store_url,
        students = directory.len(),
        next_due = ?next_due,
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
    let reloader = Arc::new(Reloader {
        store: store.clone(),
        shared: shared.clone(),
        ingestor: ingestor.clone(),
        sis_directory: sis.sync_tx.clone(),
        lock: tokio::sync::Mutex::new(()),
        prefs_keys: std::sync::OnceLock::new(),
    });
    // Bound before anything runs: a port in use stops the start.
    let mut admin_addr = None;
    if let Some(cfg) = admin_cfg {
        let state = crate::admin::AdminState::new(store.clone(), shared.clone(), clock.clone())
            .with_sources(health.clone())
            .with_daemon(ingestor.clone(), reloader.clone());
        let server = crate::admin::AdminServer::bind(&cfg, state).await?;
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
            config: cfg,
        }));
        prefs = Some(state);
    }
    tasks.spawn(crate::retention::run(
        store.clone(),
        shared.clone(),
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
    ) -> Result<usize, DaemonError> {
        self.reloader.reload(config, now).await
    }
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file has errors (one per line); the old config stays in force.
    #[error("{0}")]
    Config(crate::config::ConfigErrors),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// Applies a new config or directory to the running daemon, one at a time: for `SIGHUP` and
/// the admin API (`POST /v1/reload`, `PUT /v1/directory`).
pub struct Reloader {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    ingestor: Arc<Ingestor>,
    /// Applies the directory parts of the SIS sources again after a reload.
    sis_directory: Option<tokio::sync::mpsc::Sender<crate::source::sis_directory::SyncMessage>>,
    lock: tokio::sync::Mutex<()>,
    /// The preference links' keys, read again on reload (a rotated key file).
    prefs_keys: std::sync::OnceLock<Arc<std::sync::RwLock<Arc<crate::prefs::token::Keyring>>>>,
}

impl Reloader {
    /// Applies a new config and directory: re-plans every pending notice under the new rules.
    pub async fn reload(
        &self,
        config: Config,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, DaemonError> {
        let _one = self.lock.lock().await;
        // The directory file, or what `import-directory` stored while we ran.
        let dir = initial_directory(&config, &*self.store, now).await?;
        self.shared.set_config(config);
        self.apply(dir, now).await
    }

    /// Reads the config file in force again (as `SIGHUP` does) and applies it.
    pub async fn reload_file(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
        let path = self.shared.config().file.clone();
        let config = Config::load(&path).map_err(ReloadError::Config)?;
        Ok(self.reload(config, now).await?)
    }

    /// Stores a directory (an import through the admin API) and plans with it at once.
    pub async fn apply_directory(
        &self,
        dir: Directory,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, DaemonError> {
        let _one = self.lock.lock().await;
        self.store.save_directory(&dir.to_json(), now).await?;
        self.apply(dir, now).await
    }

    async fn apply(
        &self,
        dir: Directory,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, DaemonError> {
        self.shared.set_directory(dir);
        crate::prefs::load_choices(&*self.store, &self.shared).await?;
        // A rotated key file takes effect on reload (links keep their key's grace).
        let config = self.shared.config();
        if let (Some(keys), Some(cfg)) = (self.prefs_keys.get(), &config.preferences) {
            let ring = crate::prefs::token::Keyring::load(&cfg.key_file)
                .map_err(crate::prefs::PrefsError::from)?;
            *keys.write().expect("keys lock") = Arc::new(ring);
        }
        let gone = crate::shared::load_gone(&*self.store, &self.shared.listed_directory()).await?;
        self.shared.set_gone(gone);
        if let Some(tx) = &self.sis_directory {
            let _ = tx
                .send(crate::source::sis_directory::SyncMessage::Reapply)
                .await;
        }
        Ok(self.ingestor.replan_all(now).await?)
    }
}
