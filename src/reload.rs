//! Applying a new config or directory to the running daemon (`SIGHUP`, the admin API's
//! reload and directory import), and reading the directory in force. Its own module, below
//! both the daemon that starts it and the admin API that calls it.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::ingest::Ingestor;
use crate::model::directory::DirectoryError;
use crate::model::Directory;
use crate::shared::Shared;
use crate::store::{Store, StoreError};

/// Reads and validates a directory file.
pub fn read_directory(path: &Path) -> Result<Directory, ReloadError> {
    read_directory_text(path).map(|(dir, _)| dir)
}

/// Reads and validates a directory file; also returns its text.
fn read_directory_text(path: &Path) -> Result<(Directory, String), ReloadError> {
    let err = |message: String| ReloadError::Directory {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let dir = Directory::parse(text.as_bytes()).map_err(|e| match e {
        DirectoryError::Problems(problems) => ReloadError::DirectoryProblems {
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
) -> Result<Directory, ReloadError> {
    if let Some(path) = &config.directory_file {
        // Stored as read (it parses to the same directory): no second serialized copy, and
        // nothing is written when the file did not change.
        let (dir, text) = read_directory_text(path)?;
        store.save_directory(&text, now).await?;
        return Ok(dir);
    }
    match store.load_directory().await? {
        Some(json) => Directory::parse(json.as_bytes()).map_err(|e| ReloadError::Directory {
            path: "(stored directory)".into(),
            message: e.to_string(),
        }),
        None => {
            tracing::warn!("no directory yet: import one with `rustig import-directory`");
            Ok(Directory::default())
        }
    }
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file has errors (one per line); the old config stays in force.
    #[error("{0}")]
    Config(crate::config::ConfigErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("directory {path}: {message}")]
    Directory { path: String, message: String },
    /// One line per problem, each naming the file and the JSON path.
    #[error("{}", .problems.iter().map(|p| format!("directory {path}: {p}")).collect::<Vec<_>>().join("\n"))]
    DirectoryProblems {
        path: String,
        problems: Vec<crate::model::validate::Problem>,
    },
    #[error(transparent)]
    Prefs(#[from] crate::prefs::PrefsError),
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
    pub(crate) prefs_keys:
        std::sync::OnceLock<Arc<std::sync::RwLock<Arc<crate::prefs::token::Keyring>>>>,
}

impl Reloader {
    pub fn new(
        store: Arc<dyn Store>,
        shared: Arc<Shared>,
        ingestor: Arc<Ingestor>,
        sis_directory: Option<tokio::sync::mpsc::Sender<crate::source::sis_directory::SyncMessage>>,
    ) -> Reloader {
        Reloader {
            store,
            shared,
            ingestor,
            sis_directory,
            lock: tokio::sync::Mutex::new(()),
            prefs_keys: std::sync::OnceLock::new(),
        }
    }

    /// Applies a new config and directory: re-plans every pending notice under the new rules.
    pub async fn reload(
        &self,
        config: Config,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
        let result = async {
            let _one = self.lock.lock().await;
            // The directory file, or what `import-directory` stored while we ran.
            let dir = initial_directory(&config, &*self.store, now).await?;
            self.shared.set_config(config);
            self.apply(dir, now).await
        }
        .await;
        crate::observe::metrics::reload(result.is_ok());
        result
    }

    /// Reads the config file in force again (as `SIGHUP` does) and applies it.
    pub async fn reload_file(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
        let path = self.shared.config().file.clone();
        let config = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                crate::observe::metrics::reload(false);
                return Err(ReloadError::Config(e));
            }
        };
        self.reload(config, now).await
    }

    /// Stores a directory (an import through the admin API) and plans with it at once.
    pub async fn apply_directory(
        &self,
        dir: Directory,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
        let _one = self.lock.lock().await;
        self.store.save_directory(&dir.to_json(), now).await?;
        self.apply(dir, now).await
    }

    async fn apply(
        &self,
        dir: Directory,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, ReloadError> {
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
