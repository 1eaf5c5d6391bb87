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

/// The keys that differ between `old` and `new` but are only read at start: listeners are
/// bound, sources connected, channels and templates set up once. A reload applies the rules
/// and the directory; for these it can only say that they wait for a restart.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    fn differ(a: &impl std::fmt::Debug, b: &impl std::fmt::Debug) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    let listen = |c: &Config| c.http.as_ref().map(|h| h.listen);
    let admin = |c: &Config| c.admin.as_ref().map(|a| a.listen);
    let prefs = |c: &Config| c.preferences.as_ref().map(|p| p.listen);
    let checks: [(&'static str, bool); 16] = [
        ("store.url", old.store_url != new.store_url),
        ("ingest.http.listen", listen(old) != listen(new)),
        (
            "ingest.http",
            listen(old) == listen(new) && differ(&old.http, &new.http),
        ),
        ("admin.listen", admin(old) != admin(new)),
        ("preferences.listen", prefs(old) != prefs(new)),
        ("ingest.nats", differ(&old.nats, &new.nats)),
        ("ingest.amqp", differ(&old.amqp, &new.amqp)),
        (
            "ingest.somtoday",
            differ(&old.sis.somtoday, &new.sis.somtoday),
        ),
        (
            "ingest.smartschool",
            differ(&old.sis.smartschool, &new.sis.smartschool),
        ),
        ("ingest.export", differ(&old.sis.export, &new.sis.export)),
        ("email", differ(&old.email, &new.email)),
        (
            "webpush",
            differ(&old.channels.webpush, &new.channels.webpush),
        ),
        ("fcm", differ(&old.channels.fcm, &new.channels.fcm)),
        (
            "ntfy / webhook",
            differ(&old.channels.ntfy, &new.channels.ntfy)
                || differ(&old.channels.webhook, &new.channels.webhook),
        ),
        ("templates.dir", old.templates_dir != new.templates_dir),
        (
            "delivery.lease / delivery.batch",
            old.delivery.lease != new.delivery.lease || old.delivery.batch != new.delivery.batch,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key)
        .collect()
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
            for key in restart_only_changes(&self.shared.config(), &config) {
                tracing::warn!(
                    file = %config.file.display(),
                    key,
                    "config key changed, but it only takes effect at the next restart; the \
                     running daemon keeps the old value"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[store]\nurl = \"sqlite://var/x.db\"\n[ingest.http]\nlisten = \"127.0.0.1:8425\"\n{extra}"
        );
        Config::parse(Path::new("rustig.toml"), &text).unwrap()
    }

    #[test]
    fn keys_read_only_at_start_are_named_when_a_reload_changes_them() {
        let old = config("[admin]\nlisten = \"127.0.0.1:8426\"\n[quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n");
        // The rules take effect at once: nothing to say.
        let rules = config("[admin]\nlisten = \"127.0.0.1:8426\"\n[quiet_hours]\nstart = \"21:00\"\nend = \"07:00\"\n");
        assert!(restart_only_changes(&old, &rules).is_empty());
        let text =
            "[store]\nurl = \"sqlite://var/y.db\"\n[ingest.http]\nlisten = \"127.0.0.1:9425\"\n\
                    [admin]\nlisten = \"127.0.0.1:9426\"\n[delivery]\nlease = \"10m\"\n";
        let moved = Config::parse(Path::new("rustig.toml"), text).unwrap();
        assert_eq!(
            restart_only_changes(&old, &moved),
            [
                "store.url",
                "ingest.http.listen",
                "admin.listen",
                "delivery.lease / delivery.batch"
            ]
        );
    }
}
