//! The config and the directory in force, shared by the sources, the ingestor, the
//! scheduler and the daemon, and swapped while running (reload, import, directory from the
//! SIS). The directory comes in three views: as listed, less the contacts marked gone (whom
//! messages can reach), and less the email addresses held back for the push-first fallback
//! (whom the planner plans for). The gone marks behind them are kept in the store.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::config::{Config, Fallback};
use crate::model::preference::Choices;
use crate::model::reachability::{push_first, stale_marks, GoneSet};
use crate::model::Directory;
use crate::store::{Store, StoreError};

/// The config and directory in force; both can be swapped while running.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    /// The families' stored choices (preference page), applied over the directory.
    choices: RwLock<Arc<Choices>>,
    views: RwLock<Views>,
    /// Wakes the scheduler when new notices may be due sooner than it thinks.
    pub wake: Notify,
}

/// The directory as imported and the two views derived from it, swapped together.
struct Views {
    listed: Arc<Directory>,
    /// As imported, with the families' choices applied (channels off, language).
    chosen: Arc<Directory>,
    gone: Arc<GoneSet>,
    /// Less the gone contacts: whom messages can reach.
    sending: Arc<Directory>,
    /// Also less the email contacts held back as fallback (`[delivery] fallback = "email"`
    /// for people with a push contact): whom the planner plans for.
    planning: Arc<Directory>,
}

impl Views {
    fn new(
        listed: Arc<Directory>,
        choices: &Arc<Choices>,
        gone: Arc<GoneSet>,
        config: &Config,
    ) -> Views {
        let chosen = if choices.is_empty() {
            listed.clone()
        } else {
            Arc::new(listed.with_choices(choices.clone()))
        };
        let sending = gone
            .apply(&chosen)
            .map(Arc::new)
            .unwrap_or_else(|| chosen.clone());
        let planning = if config.delivery.fallback == Fallback::Email {
            push_first(&sending)
                .map(Arc::new)
                .unwrap_or_else(|| sending.clone())
        } else {
            sending.clone()
        };
        Views {
            listed,
            chosen,
            gone,
            sending,
            planning,
        }
    }
}

impl Shared {
    pub fn new(config: Config, directory: Directory) -> Arc<Shared> {
        let choices = Arc::default();
        let views = Views::new(Arc::new(directory), &choices, Arc::default(), &config);
        Arc::new(Shared {
            config: RwLock::new(Arc::new(config)),
            choices: RwLock::new(choices),
            views: RwLock::new(views),
            wake: Notify::new(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    /// The directory the planner sees: as imported, less gone contacts and fallback-only
    /// email addresses.
    pub fn directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").planning.clone()
    }

    /// The directory messages are sent with: as imported, less gone contacts.
    pub fn sending_directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").sending.clone()
    }

    /// The directory as imported.
    pub fn listed_directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").listed.clone()
    }

    /// The directory with the families' choices applied (before gone contacts).
    pub fn chosen_directory(&self) -> Arc<Directory> {
        self.views.read().expect("directory lock").chosen.clone()
    }

    /// The families' stored choices.
    pub fn choices(&self) -> Arc<Choices> {
        self.choices.read().expect("choices lock").clone()
    }

    /// Replaces the families' choices (after a change on the page, at start and reload).
    pub fn set_choices(&self, choices: Choices) {
        let choices = Arc::new(choices);
        let config = self.config();
        let mut views = self.views.write().expect("directory lock");
        *self.choices.write().expect("choices lock") = choices.clone();
        *views = Views::new(views.listed.clone(), &choices, views.gone.clone(), &config);
    }

    /// Contacts marked gone.
    pub fn gone(&self) -> Arc<GoneSet> {
        self.views.read().expect("directory lock").gone.clone()
    }

    pub fn set_config(&self, c: Config) {
        let choices = self.choices();
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(views.listed.clone(), &choices, views.gone.clone(), &c);
        *self.config.write().expect("config lock") = Arc::new(c);
    }

    pub fn set_directory(&self, d: Directory) {
        let config = self.config();
        let choices = self.choices();
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(Arc::new(d), &choices, views.gone.clone(), &config);
    }

    pub fn set_gone(&self, gone: GoneSet) {
        let config = self.config();
        let choices = self.choices();
        let mut views = self.views.write().expect("directory lock");
        *views = Views::new(views.listed.clone(), &choices, Arc::new(gone), &config);
    }
}

/// The gone marks still in force for `dir`: marks of contacts the directory no longer lists
/// (changed or removed) are deleted.
pub async fn load_gone(store: &dyn Store, dir: &Directory) -> Result<GoneSet, StoreError> {
    let marks = store.gone_contacts().await?;
    let stale = stale_marks(&marks, dir);
    if !stale.is_empty() {
        store.clear_gone(&stale).await?;
        tracing::info!(
            cleared = stale.len(),
            "gone marks cleared: the directory changed those contacts"
        );
    }
    let marks = store.gone_contacts().await?;
    if !marks.is_empty() {
        tracing::info!(
            gone_contacts = marks.len(),
            "contacts marked gone are skipped"
        );
    }
    Ok(GoneSet::new(&marks))
}

/// The directory the daemon plans with, for a command that plans without one running
/// (`rustig explain`): the families' stored choices applied, the contacts marked gone left
/// out (read only: stale marks are not cleared here) and, with the email fallback, the held
/// back addresses too.
pub async fn planning_directory(
    config: &Config,
    dir: Directory,
    store: &dyn Store,
) -> Result<Arc<Directory>, StoreError> {
    let shared = Shared::new(config.clone(), dir);
    shared.set_choices(crate::model::preference::choices_of(
        store.preferences().all_choices().await?,
    ));
    shared.set_gone(GoneSet::new(&store.gone_contacts().await?));
    Ok(shared.directory())
}
