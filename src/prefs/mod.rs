//! The families' preference page: a guardian or a student opens the personal link from a
//! message, sees what they receive and what the law and the school require, and changes
//! what they may. A listener of its own (`[preferences] listen`) behind the school's TLS
//! proxy; nothing of the admin API is reachable through it.
//!
//! - [`token`]: signed, expiring links (HMAC-SHA256, key rotation with grace).
//! - [`page`]: the server-rendered pages (no JavaScript), CSRF-safe form, one-click
//!   unsubscribe, rate limits, a neutral 403 for every bad link.
//! - [`follow`]: choices made through another instance's page (one PostgreSQL database).
//! - [`links`]: the link in every email and webhook document, `List-Unsubscribe`.
//! - the mentor's view and override and the AVG export live with the admin API
//!   (`crate::admin::preferences`).
//!
//! The rules of what may be chosen are pure, in `crate::policy::preference`; a change is
//! stored with its audit entry in one transaction and re-plans the person's pending notices
//! at once, on the same path as a reload.

pub mod follow;
pub mod links;
pub mod page;
mod rate;
mod texts;
pub mod token;

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};

use crate::clock::Clock;
use crate::config::preferences::PreferencesConfig;
use crate::ingest::Ingestor;
use crate::model::preference::{choices_of, Choice, StoredChoice};
use crate::model::Role;
use crate::store::audit::AuditEntry;
use crate::store::preference::Written;
use crate::store::{Store, StoreError};
use token::Keyring;

#[derive(Debug, thiserror::Error)]
pub enum PrefsError {
    #[error(transparent)]
    Keys(#[from] token::KeyFileError),
    #[error("preferences.listen = \"{addr}\": {}", crate::listener::bind_problem(.error))]
    Bind {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the page and the admin routes share.
pub struct Prefs {
    pub keys: Arc<RwLock<Arc<Keyring>>>,
    pub store: Arc<dyn Store>,
    pub ingestor: Arc<Ingestor>,
    pub clock: Arc<dyn Clock>,
    rates: rate::Limiter,
    /// One change at a time in this process: store, refresh the choices, re-plan.
    changing: Mutex<()>,
}

impl std::fmt::Debug for Prefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefs").finish_non_exhaustive()
    }
}

/// A change to store: whose, what, by whom and why.
#[derive(Debug, Clone)]
pub struct Change {
    pub school: String,
    pub person: String,
    pub role: Role,
    pub choice: Choice,
    pub links_from: Option<i64>,
    /// The version the change was made from (0: none stored yet).
    pub expected: i64,
    /// `guardian:<id>`, `student:<id>` or `admin:<token name>`.
    pub actor: String,
    /// `preferences.set`, `preferences.unsubscribe`, `preferences.override`, …
    pub action: String,
    /// Why (a mentor's override must give one); kept in the audit entry.
    pub reason: Option<String>,
}

impl Prefs {
    pub fn new(
        keys: Keyring,
        store: Arc<dyn Store>,
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Prefs> {
        Arc::new(Prefs {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            store,
            ingestor,
            clock,
            rates: rate::Limiter::default(),
            changing: Mutex::new(()),
        })
    }

    pub fn keys(&self) -> Arc<Keyring> {
        self.keys.read().expect("keys lock").clone()
    }

    pub fn config(&self) -> Option<PreferencesConfig> {
        self.ingestor.shared().config().preferences.clone()
    }

    /// Stores a change with its audit entry, applies it and re-plans the person's pending
    /// notices. `Ok(None)` when the stored version moved on (a stale or replayed form).
    pub async fn change(&self, c: Change) -> Result<Option<i64>, StoreError> {
        let _one = self.changing.lock().await;
        let now = self.clock.now();
        let before = self
            .store
            .preferences()
            .choice(&c.school, &c.person)
            .await?;
        let stored = StoredChoice {
            school: c.school.clone(),
            person: c.person.clone(),
            role: c.role,
            choice: c.choice.clone(),
            links_from: c.links_from,
            version: 0,
        };
        let mut after = serde_json::to_value(&c.choice).expect("choice serializes");
        if let Some(r) = &c.reason {
            after["reason"] = serde_json::json!(r);
        }
        if let Some(f) = c.links_from {
            after["links_from"] = serde_json::json!(f);
        }
        let audit = AuditEntry::new(
            now,
            c.actor.clone(),
            c.action.clone(),
            format!("{}:{}", c.role.as_str(), c.person),
        )
        .change(
            Some(
                before
                    .as_ref()
                    .map(|b| serde_json::to_value(&b.choice).expect("choice serializes"))
                    .unwrap_or_else(|| serde_json::json!({})),
            ),
            Some(after),
        );
        let version = match self
            .store
            .preferences()
            .set_choice(&stored, c.expected, now, &audit)
            .await?
        {
            Written::Stale => return Ok(None),
            Written::Stored(v) => v,
        };
        self.refresh().await?;
        let replanned = self
            .ingestor
            .replan_person(&c.school, &c.person, now)
            .await?;
        // No names or choices at info level: the role, an id and counts.
        tracing::info!(
            role = c.role.as_str(),
            action = %c.action,
            replanned,
            "preferences changed"
        );
        Ok(Some(version))
    }

    /// Loads every stored choice into the directory views.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let all = self.store.preferences().all_choices().await?;
        self.ingestor.shared().set_choices(choices_of(all));
        Ok(())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Loads the stored choices into `shared` (at start).
pub async fn load_choices(
    store: &dyn Store,
    shared: &crate::ingest::Shared,
) -> Result<usize, StoreError> {
    let all = store.preferences().all_choices().await?;
    let n = all.len();
    shared.set_choices(choices_of(all));
    Ok(n)
}

/// The page's listener, bound.
pub struct PrefsServer {
    listener: TcpListener,
    prefs: Arc<Prefs>,
    limits: crate::listener::Limits,
}

impl PrefsServer {
    pub async fn bind(
        cfg: &PreferencesConfig,
        prefs: Arc<Prefs>,
    ) -> Result<PrefsServer, PrefsError> {
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|error| PrefsError::Bind {
                addr: cfg.listen,
                error,
            })?;
        Ok(PrefsServer {
            listener,
            prefs,
            limits: cfg.limits,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("a bound listener")
    }

    pub async fn run(self, stop: watch::Receiver<bool>) {
        let router = page::router(self.prefs);
        if let Err(e) = crate::listener::serve(self.listener, router, self.limits, stop).await {
            tracing::error!("preference page stopped: {e}");
        }
    }
}
