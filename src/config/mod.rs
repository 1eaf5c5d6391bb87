//! The operator's TOML file: parsed strictly (unknown keys are errors), merged per school, and
//! reported with file, line, column, key and what is allowed.

mod bounds;
pub mod channels;
pub mod email;
mod error;
pub mod preferences;
mod raw;
pub mod retention;
mod sanity;
pub mod sis;
pub mod values;

pub use error::{line_col, ConfigError, ConfigErrors};
use error::{locate, shorten, tidy_serde_message, value_span};
use raw::*;
pub use sanity::sanity;
use sanity::summarize;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::Duration;

use crate::policy::{
    AbsencesPolicy, Calendar, ClassroomFirst, ConsentPolicy, DigestPolicy, GradesPolicy,
    GuardianGrades, Policy, Schedule, StudentControls,
};

pub use email::{DkimSettings, SmtpConfig, TlsMode};

pub use channels::{
    ChannelsConfig, Fallback, FcmConfig, NtfyConfig, Urgency, WebPushConfig, WebhookConfig,
};
pub use retention::{QuarantineConfig, RetentionConfig};

// ---- The effective configuration -----------------------------------------------------------

#[derive(Debug, Clone)]
pub struct HttpIngestConfig {
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
    /// Body size, timeouts and connection limit of the listener.
    pub limits: crate::listener::Limits,
}

/// `[admin]`: the operators' API (views, actions, health), on a listener of its own so that
/// it can be firewalled apart from ingest.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Tokens for the views (one per line, optionally `name token`).
    pub read_token_file: Option<PathBuf>,
    /// Tokens for the actions (and the views).
    pub operate_token_file: Option<PathBuf>,
    pub limits: crate::listener::Limits,
}

/// One `[[ingest.nats]]` table: a durable JetStream pull consumer.
#[derive(Debug, Clone)]
pub struct NatsIngestConfig {
    pub url: String,
    pub stream: String,
    /// Subject filter of the consumer (and the stream's subject when `create` makes it).
    pub subject: String,
    pub durable: String,
    pub credentials: Option<PathBuf>,
    pub max_ack_pending: i64,
    pub ack_wait: std::time::Duration,
    pub batch: usize,
    /// Create the stream when it is missing; otherwise a missing stream is an error.
    pub create: bool,
}

/// One `[[ingest.amqp]]` table: a RabbitMQ queue consumed with manual acks.
#[derive(Debug, Clone)]
pub struct AmqpIngestConfig {
    pub url: String,
    pub queue: String,
    pub prefetch: u16,
    pub batch: usize,
}

#[derive(Debug, Clone)]
pub enum EmailTransportConfig {
    /// One `.eml` file per message in `dir`.
    File { dir: PathBuf },
    /// SMTP with a connection pool to a relay.
    Smtp(SmtpConfig),
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub transport: EmailTransportConfig,
    pub from: String,
    pub timeout: std::time::Duration,
    /// `[email.dkim]`: sign every message.
    pub dkim: Option<DkimSettings>,
}

/// `[delivery] batch` when the file does not set it. Each round of a release costs time of
/// its own besides its groups (~11 ms of its claim: the commit's fsync, the query's set-up;
/// ~8 ms of its sends and records), so fewer, larger rounds release sooner: 1 024 groups sent
/// 100 000 events' messages ~8 % faster than 512, with a ~7 % lower lateness p99; 1 536 and
/// 2 048 were no faster (BENCHMARKS.md, issue 18, fifteenth round).
pub const DEFAULT_CLAIM_GROUPS: u32 = 1024;

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub concurrency: usize,
    /// How long a claim holds before another instance (or a restart) may take it over; a
    /// claimed batch must be sent well within it, or it may be sent twice.
    pub lease: Duration,
    /// Message groups claimed per round trip; smaller spreads a release over more instances.
    /// SQLite adds up to an eighth as many whose notices lie between theirs in the store.
    pub batch: u32,
    /// A message not delivered this long after it was first due is dead.
    pub max_age: Duration,
    /// Per HTTP request (push services, webhooks).
    pub timeout: std::time::Duration,
    /// HTTP requests in flight to one host, so one slow service cannot take all slots.
    pub per_host: usize,
    pub fallback: Fallback,
}

impl DeliveryConfig {
    /// The rules the release step applies (`policy::release`).
    pub fn release_rules(&self) -> crate::policy::release::Rules {
        crate::policy::release::Rules {
            max_attempts: self.max_attempts,
            retry_base: self.retry_base,
            retry_max: self.retry_max,
            max_age: self.max_age,
            email_fallback: self.fallback == Fallback::Email,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    /// SHA-256 of the file's text as loaded (hex), so an operator can tell which version
    /// is in force.
    pub sha256: String,
    pub store_url: String,
    pub directory_file: Option<PathBuf>,
    /// How long an event for a student (or school) the directory does not know is kept
    /// unresolved, waiting for an import that adds the student, before it is reported dead
    /// (`[directory] unresolved_hold`).
    pub unresolved_hold: Duration,
    pub http: Option<HttpIngestConfig>,
    /// `None` without an `[admin]` table: no admin listener.
    pub admin: Option<AdminConfig>,
    pub nats: Vec<NatsIngestConfig>,
    pub amqp: Vec<AmqpIngestConfig>,
    /// SOMtoday, Smartschool and export pollers, and the directory from an export.
    pub sis: sis::SisConfig,
    pub email: EmailConfig,
    pub delivery: DeliveryConfig,
    /// Web Push, FCM, ntfy and webhook settings.
    pub channels: ChannelsConfig,
    pub templates_dir: Option<PathBuf>,
    /// The global rules; used for every school when no `[schools.*]` table exists.
    pub default_policy: Policy,
    pub schools: BTreeMap<String, Policy>,
    /// The families' preference page (`[preferences]`), when the school offers it.
    pub preferences: Option<preferences::PreferencesConfig>,
    /// How long personal data is kept (`[retention]`).
    pub retention: RetentionConfig,
    /// How much rejected input is kept (`[quarantine]`).
    pub quarantine: QuarantineConfig,
}

/// `[directory] unresolved_hold` when the file leaves it out.
pub const DEFAULT_UNRESOLVED_HOLD: Duration = Duration::days(7);
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8425";
/// `[admin] listen` when the table leaves it out.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8426";

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                key: String::new(),
                message: format!("cannot read the file: {e}"),
            }])
        })?;
        Config::parse(path, &text)
    }

    /// Parses config text; `path` is only used in messages and is kept for reloads.
    ///
    /// Every problem is reported, not only the first: a key that does not parse is noted and
    /// taken out of a copy of the document, which is read again until it parses, and then the
    /// checks of the values run on what is left. Positions always refer to the file as
    /// written.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let mut errors: Vec<ConfigError> = Vec::new();
        // The copy bad keys are taken out of (none when the file is not even TOML).
        let mut doc: Option<toml_edit::DocumentMut> = text.parse().ok();
        let mut current = text.to_string();
        let mut removed: Vec<String> = Vec::new();
        let raw: Option<RawConfig> = loop {
            let de = toml::Deserializer::new(&current);
            let e = match serde_path_to_error::deserialize::<_, RawConfig>(de) {
                Ok(raw) => break Some(raw),
                Err(e) => e,
            };
            let first = errors.is_empty() && removed.is_empty();
            let (error, key) = serde_error(&file, text, &current, first, e);
            // A required key this loop took out is missing now: said once already.
            let ours = error
                .message
                .strip_prefix(": missing field `")
                .and_then(|m| m.split('`').next())
                .is_some_and(|f| removed.contains(&error::join(&error.key, f)));
            if !ours {
                errors.push(error);
            }
            // Take the key out (a table missing a required key: the table) and read again;
            // stop when that is not possible (the file is not TOML, or the problem is the
            // whole file) or it runs long.
            let done = match (&mut doc, &key) {
                (Some(doc), Some(key)) if removed.len() < 100 => {
                    error::remove_key(doc, key).then(|| key.clone())
                }
                _ => None,
            };
            let Some(done) = done else {
                break None;
            };
            removed.push(done);
            current = doc.as_ref().expect("a document").to_string();
        };
        let resolver = Resolver {
            file: &file,
            text,
            errors: vec![],
        };
        match raw {
            None => {
                errors.sort_by_key(|e| (e.line, e.column));
                Err(ConfigErrors(errors))
            }
            Some(raw) if errors.is_empty() => resolver.resolve(path, raw),
            Some(raw) => {
                if let Err(more) = resolver.resolve(path, raw) {
                    errors.extend(more.0);
                }
                errors.sort_by_key(|e| (e.line, e.column));
                Err(ConfigErrors(errors))
            }
        }
    }

    /// The rules for a school, or `None` for a school the config does not know.
    pub fn policy(&self, school: &str) -> Option<&Policy> {
        if self.schools.is_empty() {
            Some(&self.default_policy)
        } else {
            self.schools.get(school)
        }
    }

    /// Every policy in force: per school, or the global one.
    pub fn policies(&self) -> Vec<&Policy> {
        if self.schools.is_empty() {
            vec![&self.default_policy]
        } else {
            self.schools.values().collect()
        }
    }

    pub fn known_schools(&self) -> String {
        self.schools.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// A paragraph per school of what the rules do, for `rustig check`.
    pub fn summary(&self) -> String {
        self.policies()
            .iter()
            .map(|p| summarize(p))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// One deserialization error as a located [`ConfigError`], and the dotted key to take out of
/// the document before reading it again (`None` when the whole file is at fault). The first
/// error's span points into the file as written; later ones are found by their key, since
/// `current` has keys taken out.
fn serde_error(
    file: &str,
    text: &str,
    current: &str,
    first: bool,
    e: serde_path_to_error::Error<toml::de::Error>,
) -> (ConfigError, Option<String>) {
    let path = error::clean_path(&e.path().to_string());
    let inner = e.into_inner();
    let msg = inner.message().trim().to_string();
    // "unknown field `foo`": the path names the table; the key to report and take out is
    // the field inside it.
    let unknown = msg
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
        .map(|f| {
            if path.rsplit('.').next() == Some(f) {
                path.clone()
            } else {
                error::join(&path, f)
            }
        });
    // "unknown variant `x`" in a map keyed by an enum (`absences.guardians`): the path ends
    // at the map; the entry is the one whose value is `x`.
    let variant = msg
        .strip_prefix("unknown variant `")
        .and_then(|m| m.split('`').next())
        .and_then(|v| error::entry_with_value(text, &path, v));
    let key = unknown
        .clone()
        .or(variant.clone())
        .unwrap_or_else(|| path.clone());
    let first = first && variant.is_none();
    let span = if first {
        inner.span()
    } else {
        value_span(text, &key)
    };
    let (line, column) = match (&span, first) {
        (Some(s), _) => line_col(text, s.start),
        (None, _) if !key.is_empty() => locate(text, &key),
        _ => (1, 1),
    };
    let snippet = match (&span, first) {
        (Some(s), true) => current[s.clone()].trim().to_string(),
        (Some(s), false) => text[s.clone()].trim().to_string(),
        _ => String::new(),
    };
    let message = if unknown.is_some()
        || msg.starts_with("missing field")
        || key.is_empty()
        || snippet.is_empty()
        || snippet.starts_with('[')
    {
        format!(
            "{}{}",
            if key.is_empty() { "" } else { ": " },
            tidy_serde_message(&msg)
        )
    } else {
        format!(" = {}: {}", shorten(&snippet), tidy_serde_message(&msg))
    };
    // A table missing a required key goes as a whole (`key` names the table then).
    let remove = (!key.is_empty()).then(|| key.clone());
    (
        ConfigError {
            file: file.to_string(),
            line,
            column,
            key,
            message,
        },
        remove,
    )
}

impl Resolver<'_> {
    /// A school that inherits a bad value is not reported again: of the errors from `from`
    /// on (one school's), those the global table already has, for a key the school's table
    /// does not write itself, go.
    fn drop_inherited(&mut self, from: usize, prefix: &str) {
        let school = self.errors.split_off(from);
        let kept: Vec<ConfigError> = school
            .into_iter()
            .filter(|e| {
                !e.key.strip_prefix(prefix).is_some_and(|rest| {
                    value_span(self.text, &e.key).is_none()
                        && self.errors.iter().any(|g| g.key == rest)
                })
            })
            .collect();
        self.errors.extend(kept);
    }
}

struct Resolver<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Resolver<'_> {
    /// Records an error about the value of `key`, quoting the value as written:
    /// `delivery.timeout = "0s": must be between …`.
    fn value_error(&mut self, key: &str, message: String) {
        let Some(span) = value_span(self.text, key) else {
            return self.error(key, message);
        };
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: format!(" = {}: {message}", shorten(self.text[span].trim())),
        });
    }

    /// Records an error at the position of `key` (a dotted path) in the file.
    fn error(&mut self, key: &str, message: String) {
        let (line, column) = locate(self.text, key);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: format!(": {message}"),
        });
    }

    /// Checks the relay settings: the URL and `tls` agree, the EHLO name is a FQDN, the CA
    /// file holds certificates.
    fn smtp(&mut self, smtp: &SmtpConfig, from: &str) {
        if let Err(e) = email::SmtpTarget::parse(&smtp.url, smtp.tls) {
            let e = format!("{e} (transport = \"smtp\" needs url = \"smtp://host:port\" or \"smtps://host:port\")");
            return if smtp.url.is_empty() {
                self.error("email.url", e)
            } else {
                self.value_error("email.url", e)
            };
        }
        if let Err(e) = email::effective_helo_name(smtp, from) {
            if smtp.helo_name.is_some() {
                self.value_error("email.helo_name", e);
            } else if from.parse::<lettre::message::Mailbox>().is_ok() {
                self.value_error("email.from", e);
            }
        }
        if let Some(path) = &smtp.ca_file {
            if let Err(e) = email::read_ca_file(path) {
                self.value_error("email.ca_file", e);
            }
        }
    }

    /// `[email.dkim]`: a selector that is a DNS label, a domain, a readable key.
    fn dkim(&mut self, d: RawDkim, from: &str) -> DkimSettings {
        let label = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if !label(&d.selector) {
            self.value_error(
                "email.dkim.selector",
                "expected a DNS label like \"rustig2026\" (letters, digits, hyphens)".into(),
            );
        }
        let domain = d
            .domain
            .clone()
            .or_else(|| email::from_domain(from))
            .unwrap_or_default();
        if !email::is_fqdn(&domain) || domain.starts_with('[') {
            self.error(
                "email.dkim.domain",
                format!("{domain:?} is not a domain like \"coornhert.example\" (default: the domain of email.from)"),
            );
        }
        if let Err(e) = email::read_dkim_key(&d.private_key_file) {
            self.value_error("email.dkim.private_key_file", e);
        }
        DkimSettings {
            selector: d.selector,
            domain: domain.to_ascii_lowercase(),
            private_key_file: d.private_key_file,
        }
    }

    fn resolve(mut self, path: &Path, raw: RawConfig) -> Result<Config, ConfigErrors> {
        self.bounds(&raw);
        let zone = raw
            .timezone
            .map(|z| z.0)
            .unwrap_or(chrono_tz::Europe::Amsterdam);
        let store_url = raw
            .store
            .map(|s| s.url)
            .unwrap_or_else(|| "sqlite://var/rustig.db".to_string());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| store_url.starts_with(p))
        {
            self.error(
                "store.url",
                "expected \"sqlite://path\" or \"postgres://user@host:port/database\"".into(),
            );
        }
        let (http, nats, amqp, mut raw_sis) = match raw.ingest {
            None => (None, vec![], vec![], sis::RawSis::default()),
            Some(i) => (
                i.http,
                i.nats,
                i.amqp,
                sis::RawSis {
                    somtoday: i.somtoday,
                    smartschool: i.smartschool,
                    export: i.export,
                    directory: None,
                },
            ),
        };
        let unresolved_hold = raw
            .directory
            .as_ref()
            .and_then(|d| d.unresolved_hold)
            .map(|x| x.chrono())
            .unwrap_or(DEFAULT_UNRESOLVED_HOLD);
        let directory_file = raw.directory.and_then(|d| {
            raw_sis.directory = d.export;
            d.file
        });
        let http = http.map(|h| self.http(h));
        let admin = raw.admin.map(|a| self.admin(a));
        let nats = nats
            .into_iter()
            .enumerate()
            .map(|(i, n)| self.nats(i, n))
            .collect();
        let amqp = amqp
            .into_iter()
            .enumerate()
            .map(|(i, a)| self.amqp(i, a))
            .collect();
        let email = match raw.email {
            None => EmailConfig {
                transport: EmailTransportConfig::File {
                    dir: "var/outbox".into(),
                },
                from: "rustig <noreply@localhost>".into(),
                timeout: std::time::Duration::from_secs(30),
                dkim: None,
            },
            Some(e) => {
                if e.from.parse::<lettre::message::Mailbox>().is_err() {
                    self.error(
                        "email.from",
                        format!(
                            "{:?} is not an address like \"School <noreply@school.example>\"",
                            e.from
                        ),
                    );
                }
                let transport = match e.transport.unwrap_or(Transport::File) {
                    Transport::File => EmailTransportConfig::File {
                        dir: e.dir.unwrap_or_else(|| "var/outbox".into()),
                    },
                    Transport::Smtp => {
                        let smtp = SmtpConfig {
                            url: e.url.unwrap_or_default(),
                            username: e.username,
                            password_file: e.password_file,
                            pool_size: e.pool_size.unwrap_or(email::DEFAULT_POOL_SIZE),
                            tls: e.tls,
                            ca_file: e.ca_file,
                            helo_name: e.helo_name,
                        };
                        self.smtp(&smtp, &e.from);
                        EmailTransportConfig::Smtp(smtp)
                    }
                };
                let dkim = e.dkim.map(|d| self.dkim(d, &e.from));
                EmailConfig {
                    transport,
                    from: e.from,
                    timeout: e.timeout.map(|t| t.0).unwrap_or(email::DEFAULT_TIMEOUT),
                    dkim,
                }
            }
        };
        let d = raw.delivery;
        let lease = d
            .as_ref()
            .and_then(|d| d.lease)
            .map(|x| x.chrono())
            .unwrap_or(Duration::minutes(5));
        let delivery = DeliveryConfig {
            max_attempts: d.as_ref().and_then(|d| d.max_attempts).unwrap_or(8),
            retry_base: d
                .as_ref()
                .and_then(|d| d.retry_base)
                .map(|x| x.chrono())
                .unwrap_or(Duration::seconds(30)),
            retry_max: d
                .as_ref()
                .and_then(|d| d.retry_max)
                .map(|x| x.chrono())
                .unwrap_or(Duration::hours(1)),
            concurrency: d.as_ref().and_then(|d| d.concurrency).unwrap_or(16).max(1),
            lease,
            batch: d
                .as_ref()
                .and_then(|d| d.batch)
                .unwrap_or(DEFAULT_CLAIM_GROUPS)
                .max(1),
            max_age: d
                .as_ref()
                .and_then(|d| d.max_age)
                .map(|x| x.chrono())
                .unwrap_or(Duration::days(3)),
            timeout: d
                .as_ref()
                .and_then(|d| d.timeout)
                .map(|x| x.0)
                .unwrap_or(std::time::Duration::from_secs(30)),
            per_host: d.as_ref().and_then(|d| d.per_host).unwrap_or(8).max(1),
            fallback: d.as_ref().and_then(|d| d.fallback).unwrap_or_default(),
        };
        let channels = self.channels(channels::RawChannels {
            webpush: raw.webpush,
            fcm: raw.fcm,
            ntfy: raw.ntfy,
            webhook: raw.webhook,
        });
        let global = RawPolicy {
            quiet_hours: raw.quiet_hours.unwrap_or_default(),
            weekend: raw.weekend.unwrap_or_default(),
            holidays: raw.holidays.unwrap_or_default(),
            grades: raw.grades.unwrap_or_default(),
            absences: raw.absences.unwrap_or_default(),
            digest: raw.digest.unwrap_or_default(),
            consent: raw.consent.unwrap_or_default(),
        };
        let preferences = raw.preferences.map(|p| self.preferences(p));
        let retention = self.retention(raw.retention);
        let quarantine = self.quarantine(raw.quarantine);
        let school_ids: Vec<String> = raw.schools.keys().cloned().collect();
        let sis = self.sis(raw_sis, &school_ids);
        let default_policy = self.policy("", "", zone, &global, "");
        let mut schools = BTreeMap::new();
        for (id, s) in raw.schools {
            let merged = global.overlay(&s);
            let name = s.name.clone().unwrap_or_else(|| id.clone());
            let tz = s.timezone.map(|z| z.0).unwrap_or(zone);
            let prefix = format!("schools.{id}.");
            let before = self.errors.len();
            let policy = self.policy(&id, &name, tz, &merged, &prefix);
            self.drop_inherited(before, &prefix);
            schools.insert(id, policy);
        }
        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        Ok(Config {
            file: path.to_path_buf(),
            sha256: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(self.text.as_bytes()))
            },
            store_url,
            directory_file,
            unresolved_hold,
            http,
            admin,
            nats,
            amqp,
            sis,
            email,
            delivery,
            channels,
            templates_dir: raw.templates.and_then(|t| t.dir),
            default_policy,
            schools,
            preferences,
            retention,
            quarantine,
        })
    }

    fn http(&mut self, h: RawHttp) -> HttpIngestConfig {
        use crate::listener::Limits;
        let d = Limits::default();
        // Anyone on the network could post events: only loopback may go without a token.
        if h.token_file.is_none() && !h.listen.0.ip().is_loopback() {
            self.value_error(
                "ingest.http.listen",
                "listening beyond loopback needs token_file: without a token anyone who \
                 reaches this address could post events"
                    .into(),
            );
        }
        HttpIngestConfig {
            listen: h.listen.0,
            token_file: h.token_file,
            limits: Limits {
                max_body_bytes: h.max_body_bytes.unwrap_or(d.max_body_bytes),
                read_timeout: h.read_timeout.map(|t| t.0).unwrap_or(d.read_timeout),
                idle_timeout: h.idle_timeout.map(|t| t.0).unwrap_or(d.idle_timeout),
                max_connections: h.max_connections.unwrap_or(d.max_connections),
            },
        }
    }

    fn admin(&mut self, a: RawAdmin) -> AdminConfig {
        use crate::listener::Limits;
        let d = Limits::default();
        let listen = a
            .listen
            .map(|l| l.0)
            .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.parse().expect("default parses"));
        // Views show who is waiting for what; actions resend and cancel: beyond loopback
        // only with tokens.
        if a.read_token_file.is_none()
            && a.operate_token_file.is_none()
            && !listen.ip().is_loopback()
        {
            self.value_error(
                "admin.listen",
                "listening beyond loopback needs read_token_file or operate_token_file: \
                 without tokens anyone who reaches this address could see and change what is \
                 waiting"
                    .into(),
            );
        }
        AdminConfig {
            listen,
            read_token_file: a.read_token_file,
            operate_token_file: a.operate_token_file,
            limits: Limits {
                // Directory imports are the largest bodies.
                max_body_bytes: a.max_body_bytes.unwrap_or(d.max_body_bytes),
                read_timeout: a.read_timeout.map(|t| t.0).unwrap_or(d.read_timeout),
                idle_timeout: a.idle_timeout.map(|t| t.0).unwrap_or(d.idle_timeout),
                max_connections: a.max_connections.unwrap_or(64),
            },
        }
    }

    fn nats(&mut self, i: usize, n: RawNats) -> NatsIngestConfig {
        let key = |k: &str| format!("ingest.nats[{i}].{k}");
        if n.url.parse::<async_nats::ServerAddr>().is_err() {
            self.error(
                &key("url"),
                format!(
                    "{:?} is not a NATS address like \"nats://127.0.0.1:4222\"",
                    n.url
                ),
            );
        }
        let durable = n.durable.unwrap_or_else(|| "rustig".into());
        for (k, v) in [("stream", &n.stream), ("durable", &durable)] {
            if !valid_nats_name(v) {
                self.error(
                    &key(k),
                    format!("{v:?}: expected a name without spaces, '.', '*', '>', '/' or '\\'"),
                );
            }
        }
        if n.subject.is_empty() || n.subject.contains(char::is_whitespace) {
            self.error(
                &key("subject"),
                format!("{:?}: expected a subject like \"sis.events.>\"", n.subject),
            );
        }
        // Bounds: see bounds.rs.
        let max_ack_pending = n.max_ack_pending.unwrap_or(1000);
        let batch = n.batch.unwrap_or(100);
        let ack_wait = n
            .ack_wait
            .map(|d| d.0)
            .unwrap_or(std::time::Duration::from_secs(30));
        NatsIngestConfig {
            url: n.url,
            stream: n.stream,
            subject: n.subject,
            durable,
            credentials: n.credentials,
            max_ack_pending,
            ack_wait,
            batch,
            create: n.create,
        }
    }

    fn amqp(&mut self, i: usize, a: RawAmqp) -> AmqpIngestConfig {
        let key = |k: &str| format!("ingest.amqp[{i}].{k}");
        if !(a.url.starts_with("amqp://") || a.url.starts_with("amqps://")) {
            self.error(
                &key("url"),
                "expected a URL like \"amqp://user@127.0.0.1:5672/%2f\" (or amqps://)".into(),
            );
        }
        if a.queue.is_empty() || a.queue.len() > 255 {
            self.error(
                &key("queue"),
                "expected a queue name of 1 to 255 bytes".into(),
            );
        }
        // Bounds: see bounds.rs.
        let prefetch = a.prefetch.unwrap_or(100);
        let batch = a.batch.unwrap_or(usize::from(prefetch.clamp(1, 100)));
        AmqpIngestConfig {
            url: a.url,
            queue: a.queue,
            prefetch,
            batch,
        }
    }

    fn policy(
        &mut self,
        id: &str,
        name: &str,
        tz: chrono_tz::Tz,
        p: &RawPolicy,
        prefix: &str,
    ) -> Policy {
        let t = |s: &str| values::TimeOfDay(chrono::NaiveTime::parse_from_str(s, "%H:%M").unwrap());
        let quiet = if p.quiet_hours.enabled == Some(false) {
            None
        } else {
            let start = p.quiet_hours.start.unwrap_or(t("20:00"));
            let end = p.quiet_hours.end.unwrap_or(t("07:00"));
            if start == end {
                self.error(
                    &format!("{prefix}quiet_hours.end"),
                    format!("equals start ({start}): quiet hours would cover the whole day and nothing could ever be delivered; use enabled = false to switch them off"),
                );
            }
            Some((start.0, end.0))
        };
        let weekend = if p.weekend.enabled == Some(false) {
            None
        } else {
            let from = p
                .weekend
                .from
                .unwrap_or_else(|| "fri 18:00".parse().unwrap());
            let until = p
                .weekend
                .until
                .unwrap_or_else(|| "mon 07:00".parse().unwrap());
            if from == until {
                self.error(
                    &format!("{prefix}weekend.until"),
                    format!("equals from ({from}): the weekend would cover the whole week and nothing could ever be delivered"),
                );
            }
            Some((from, until))
        };
        let g = &p.grades;
        let grades = GradesPolicy {
            classroom_first: g.classroom_first.unwrap_or(ClassroomFirst::Release),
            embargo_school_days: g.embargo_school_days.unwrap_or(1),
            max_hold: g.max_hold.map(|d| d.chrono()).unwrap_or(Duration::days(5)),
            guardian_delay: g
                .guardian_delay
                .map(|d| d.chrono())
                .unwrap_or(Duration::hours(24)),
            guardians: g.guardians.unwrap_or(GuardianGrades::All),
            push_shows_value: g.push_shows_value.unwrap_or(false),
            // Results land when a mentor is around: school hours unless switched off.
            report_hours: match g.report_hours {
                Some(ReportHours(w)) => w,
                None => Some("09:00-16:00".parse().expect("default window parses")),
            },
        };
        let absences = AbsencesPolicy {
            settle: p
                .absences
                .settle
                .map(|d| d.chrono())
                .unwrap_or(Duration::minutes(45)),
            guardians: p.absences.guardians.clone().unwrap_or_default(),
        };
        let digest = DigestPolicy {
            students: p
                .digest
                .students
                .clone()
                .map(|s| s.0)
                .unwrap_or(Schedule::Immediate),
            guardians: p.digest.guardians.clone().map(|s| s.0).unwrap_or_else(|| {
                Schedule::parse("0 17 * * mon-fri").expect("default schedule parses")
            }),
            max_per_day: p.digest.max_per_day,
        };
        let consent = ConsentPolicy {
            student_controls: p
                .consent
                .student_controls
                .unwrap_or(StudentControls::From16),
            adult_needs_consent: p.consent.adult_needs_consent.unwrap_or(true),
        };
        let policy = Policy {
            school: id.to_string(),
            school_name: name.to_string(),
            calendar: Calendar {
                tz,
                quiet,
                weekend,
                holidays: p.holidays.dates.clone().unwrap_or_default(),
            },
            grades,
            absences,
            digest,
            consent,
        };
        if self.errors.is_empty() {
            for e in sanity(&policy) {
                self.error(&format!("{prefix}{}", e.0), e.1);
            }
        }
        policy
    }
}

/// JetStream stream and consumer names end up in subjects, so these characters break them.
fn valid_nats_name(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AbsenceKind;
    use crate::policy::AbsenceMode;

    const EXAMPLE: &str = include_str!("../../config/rustig.toml");

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("config/rustig.toml"), text)
    }

    fn first_error(text: &str) -> String {
        parse(text).unwrap_err().0[0].to_string()
    }

    #[test]
    fn the_example_config_is_valid() {
        let c = parse(EXAMPLE).unwrap();
        let p = c.policy("coornhert").unwrap();
        assert_eq!(p.school_name, "Coornhert Lyceum");
        assert_eq!(p.grades.guardian_delay, Duration::hours(24));
        assert!(c.policy("elsewhere").is_none());
        assert!(c.summary().contains("Coornhert Lyceum (coornhert)"));
    }

    #[test]
    fn a_bad_value_names_file_line_column_key_and_what_is_allowed() {
        let text = "timezone = \"Europe/Amsterdam\"\n\n[quiet_hours]\nstart = \"25:00\"\nend = \"07:00\"\n";
        assert_eq!(
            first_error(text),
            "config/rustig.toml:4:9: quiet_hours.start = \"25:00\": expected a time of day like \"20:00\""
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_allowed_ones() {
        let err = first_error("[quiet_hours]\nstart = \"20:00\"\nends = \"07:00\"\n");
        assert!(
            err.starts_with("config/rustig.toml:3:1: quiet_hours.ends: unknown key `ends`"),
            "{err}"
        );
        assert!(err.contains("`end`"), "{err}");
        let err = first_error("[grades]\nclassroom_first = \"later\"\n");
        assert!(err.contains("grades.classroom_first = \"later\""), "{err}");
        assert!(err.contains("`next_lesson`"), "{err}");
        let err = first_error("[absences]\nguardians = { truant = \"immediate\" }\n");
        assert!(err.contains("absences.guardians"), "{err}");
        let err = first_error("[grades]\nmax_hold = \"a while\"\n");
        assert!(err.contains("expected a duration like"), "{err}");
    }

    #[test]
    fn school_overrides_merge_key_by_key() {
        let text = "[grades]\nguardian_delay = \"12h\"\nguardians = \"all\"\n\
                    [schools.a]\n[schools.b.grades]\nguardians = \"report_only\"\n\
                    [schools.b.absences]\nguardians = { sick = \"immediate\" }\n";
        let c = parse(text).unwrap();
        let (a, b) = (c.policy("a").unwrap(), c.policy("b").unwrap());
        assert_eq!(a.grades.guardians, GuardianGrades::All);
        assert_eq!(b.grades.guardians, GuardianGrades::ReportOnly);
        assert_eq!(b.grades.guardian_delay, Duration::hours(12));
        assert_eq!(b.absences.mode(AbsenceKind::Sick), AbsenceMode::Immediate);
        assert_eq!(
            b.absences.mode(AbsenceKind::Unauthorized),
            AbsenceMode::Immediate
        );
        assert_eq!(a.absences.mode(AbsenceKind::Sick), AbsenceMode::None);
    }

    #[test]
    fn undeliverable_configs_are_errors() {
        let err = first_error("[quiet_hours]\nstart = \"07:00\"\nend = \"07:00\"\n");
        assert!(
            err.starts_with("config/rustig.toml:3:7: quiet_hours.end"),
            "{err}"
        );
        assert!(err.contains("whole day"), "{err}");
        let err = first_error("[digest]\nguardians = \"0 22 * * *\"\n");
        assert!(err.contains("digest.guardians"), "{err}");
        assert!(err.contains("never be delivered"), "{err}");
        let err = first_error("[grades]\nreport_hours = \"09:00-16:00\"\n[quiet_hours]\nstart = \"08:00\"\nend = \"17:00\"\n");
        assert!(err.contains("grades.report_hours"), "{err}");
        assert!(err.contains("never be delivered"), "{err}");
        let err = first_error("[schools.x.weekend]\nfrom = \"mon 00:00\"\nuntil = \"mon 00:00\"\n");
        assert!(err.contains("schools.x.weekend.until"), "{err}");
    }

    #[test]
    fn an_ingest_listener_beyond_loopback_needs_a_token() {
        let http = |listen: &str, token: &str| {
            parse(&format!("[ingest.http]\nlisten = \"{listen}\"\n{token}"))
                .map(|c| c.http.unwrap().listen.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            http("0.0.0.0:8425", "").unwrap_err(),
            "config/rustig.toml:2:10: ingest.http.listen = \"0.0.0.0:8425\": listening beyond \
             loopback needs token_file: without a token anyone who reaches this address could \
             post events"
        );
        assert!(http("192.0.2.7:8425", "").is_err());
        assert!(http("[::]:8425", "").is_err());
        assert!(http("0.0.0.0:8425", "token_file = \"/etc/rustig/t\"\n").is_ok());
        assert_eq!(http("127.0.0.1:8425", "").unwrap(), "127.0.0.1:8425");
        assert_eq!(http("[::1]:8425", "").unwrap(), "[::1]:8425");
    }

    #[test]
    fn the_admin_listener_defaults_to_loopback_and_beyond_it_needs_a_token() {
        let admin = |table: &str| {
            parse(&format!("[admin]\n{table}"))
                .map(|c| c.admin.unwrap())
                .map_err(|e| e.to_string())
        };
        let a = admin("").unwrap();
        assert_eq!(a.listen.to_string(), DEFAULT_ADMIN_LISTEN);
        assert_eq!(a.limits.max_connections, 64);
        assert!(parse("").unwrap().admin.is_none());
        assert_eq!(
            admin("listen = \"0.0.0.0:8426\"\n").unwrap_err(),
            "config/rustig.toml:2:10: admin.listen = \"0.0.0.0:8426\": listening beyond \
             loopback needs read_token_file or operate_token_file: without tokens anyone who \
             reaches this address could see and change what is waiting"
        );
        assert!(admin("listen = \"0.0.0.0:8426\"\nread_token_file = \"/r\"\n").is_ok());
        assert!(admin("listen = \"[::]:1\"\noperate_token_file = \"/o\"\n").is_ok());
        assert!(admin("listen = \"nowhere\"\n")
            .unwrap_err()
            .contains("expected an address and port"));
        assert_eq!(
            admin("idle_timeout = \"0s\"\n").unwrap_err(),
            "config/rustig.toml:2:16: admin.idle_timeout = \"0s\": must be at least \"1s\" \
             (and at most read_timeout (\"30s\")): a client could not reuse its connection for \
             the next request"
        );
        assert!(admin("token_file = \"/t\"\n")
            .unwrap_err()
            .contains("unknown key `token_file`"));
    }
}
