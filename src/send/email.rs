//! Email by lettre: one multipart/alternative message (text + HTML) per [`Outgoing`], sent to
//! all of the recipient's email addresses at once.
//!
//! Two transports:
//!
//! - `file`: writes `{dir}/{key}.eml` atomically (temp file in the same directory, fsync,
//!   rename, fsync of the directory). The file name is the idempotency key, so a resend after
//!   a crash overwrites the same file: exactly one file per message on disk.
//! - `smtp`: lettre's SMTP client over a small pool of connections of our own (the
//!   `smtp_pool` module: lettre's pooled transport leaves Nagle's algorithm on, which costs
//!   ~40 ms per message, and sends NOOP before every message), to the configured relay with
//!   the configured TLS mode (`email.tls`), trusting the system's CAs plus `email.ca_file`
//!   (the `trust` module), greeting with `email.helo_name` (default: the domain of `from`),
//!   with optional credentials. At most `pool_size` messages are in flight at once, and each
//!   one gets at most `timeout` (connection included).
//!
//! Idempotency: the `Message-ID` is `<{key}@{domain of from}>` and the header `X-Rustig-Key`
//! carries the key, so a message sent again after a crash between "sent" and "committed"
//! carries the same identifiers (and the same MIME boundary; only `Date` differs). Receivers
//! that deduplicate on `Message-ID` show it once; others may show it twice. That is the only
//! effect of such a crash on SMTP. On the file transport the second write simply replaces the
//! first.
//!
//! Failures: SMTP 5xx replies are [`SendError::Permanent`]; 4xx replies, connection, I/O and
//! timeout failures are [`SendError::Transient`]. A relay that cannot work as configured (an
//! untrusted certificate, no STARTTLS under `tls = "required"`) is a fault of the relay, not
//! of the message: logged once, and messages are held without connecting until a probe
//! succeeds (the `relay_fault` module). Email addresses never appear in logs or in error
//! texts (server replies are scrubbed of the recipient's addresses).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, Message};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use self::relay_fault::{Admit, FaultGate};
use self::smtp_pool::{Endpoint, Failure, SmtpPool};
use super::{Channel, Outgoing, SendError};
use crate::config::email::{effective_helo_name, read_ca_file, SmtpTarget};
use crate::config::{EmailConfig, EmailTransportConfig, SmtpConfig};
use crate::model::Contact;

pub mod dkim;
pub mod relay_fault;
mod smtp_pool;
mod trust;

/// The environment variable read for the SMTP password when no `password_file` is set.
pub const PASSWORD_ENV: &str = "RUSTIG_SMTP_PASSWORD";

/// Errors while setting up the email channel (at start, not per message).
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email.from = {from:?} is not an address like \"School <noreply@school.example>\": {reason}")]
    From { from: String, reason: String },
    #[error(
        "email.url is not a usable SMTP URL (expected smtp://host:port or smtps://host:port): {0}"
    )]
    Url(String),
    #[error("email: {0}")]
    HeloName(String),
    #[error("email.ca_file: {0}")]
    CaFile(String),
    #[error("email: TLS settings for the relay: {0}")]
    Tls(String),
    #[error("email.dkim.private_key_file: {0}")]
    Dkim(String),
    #[error("email.password_file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("email.username is set but there is no password: set email.password_file or the environment variable {PASSWORD_ENV}")]
    MissingPassword,
    #[error("email.dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The email channel: builds the message and hands it to the configured transport.
pub struct EmailChannel {
    from: Mailbox,
    transport: Transport,
    /// `[email.dkim]`: every message is signed.
    dkim: Option<lettre::message::dkim::DkimConfig>,
}

enum Transport {
    File { dir: PathBuf },
    Smtp(Box<Smtp>),
}

impl EmailChannel {
    /// Sets the channel up from the configuration: parses `from`, creates the outbox directory
    /// (file) or builds the pooled SMTP transport and reads the password (smtp). Does not
    /// connect: an unreachable server at start is a transient failure of the first send.
    pub async fn new(cfg: &EmailConfig) -> Result<EmailChannel, EmailError> {
        let from: Mailbox = cfg.from.parse().map_err(|e| EmailError::From {
            from: cfg.from.clone(),
            reason: format!("{e}"),
        })?;
        let transport = match &cfg.transport {
            EmailTransportConfig::File { dir } => {
                let dir = dir.clone();
                let d = dir.clone();
                tokio::task::spawn_blocking(move || prepare_outbox(&d))
                    .await
                    .map_err(|e| EmailError::Dir {
                        path: dir.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?
                    .map_err(|source| EmailError::Dir {
                        path: dir.clone(),
                        source,
                    })?;
                Transport::File { dir }
            }
            EmailTransportConfig::Smtp(smtp) => {
                let credentials = match &smtp.username {
                    None => None,
                    Some(user) => {
                        let file_password =
                            match &smtp.password_file {
                                None => None,
                                Some(path) => Some(tokio::fs::read_to_string(path).await.map_err(
                                    |source| EmailError::PasswordFile {
                                        path: path.clone(),
                                        source,
                                    },
                                )?),
                            };
                        let password =
                            resolve_password(file_password, std::env::var(PASSWORD_ENV).ok())
                                .ok_or(EmailError::MissingPassword)?;
                        Some(Credentials::new(user.clone(), password))
                    }
                };
                Transport::Smtp(Box::new(Smtp::new(
                    smtp,
                    &cfg.from,
                    credentials,
                    cfg.timeout,
                )?))
            }
        };
        let dkim = cfg
            .dkim
            .as_ref()
            .map(dkim::signer)
            .transpose()
            .map_err(EmailError::Dkim)?;
        Ok(EmailChannel {
            from,
            transport,
            dkim,
        })
    }

    /// Connects to the relay (greeting, TLS, AUTH) and says QUIT, sending nothing: what
    /// `rustig check --smtp` does. Returns a line saying what the connection was, or the
    /// error; the file transport has nothing to check.
    pub async fn probe(&self) -> Result<String, SendError> {
        match &self.transport {
            Transport::File { dir } => Ok(format!(
                "transport = \"file\": messages are written to {}",
                dir.display()
            )),
            Transport::Smtp(smtp) => smtp.probe().await,
        }
    }

    /// The relay fault in force (untrusted certificate, no STARTTLS where required), if any:
    /// messages are held until it is gone.
    pub fn relay_fault(&self) -> Option<String> {
        match &self.transport {
            Transport::File { .. } => None,
            Transport::Smtp(smtp) => smtp.gate.current(),
        }
    }

    /// What the admin status shows of the relay (`None` for the file transport): the fault
    /// in force (messages held), since when, and the relay's last refusal of EHLO or AUTH.
    pub fn relay_health(&self) -> Option<RelayHealth> {
        match &self.transport {
            Transport::File { .. } => None,
            Transport::Smtp(smtp) => {
                let fault = smtp.gate.view();
                let setup = smtp.gate.setup_error();
                Some(RelayHealth {
                    relay: smtp.pool.server(),
                    fault_since: fault.as_ref().map(|f| f.since),
                    held: fault.as_ref().map_or(0, |f| f.held),
                    fault: fault.map(|f| f.message),
                    last_error_at: setup.as_ref().map(|s| s.1),
                    last_error: setup.map(|s| s.0),
                })
            }
        }
    }

    /// The path the file transport writes a message with this key to (`None` for SMTP).
    pub fn file_path(&self, key: &str) -> Option<PathBuf> {
        match &self.transport {
            Transport::File { dir } => Some(eml_path(dir, &key_token(key))),
            Transport::Smtp(_) => None,
        }
    }
}

#[async_trait]
impl Channel for EmailChannel {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        let mut message = build_with(&self.from, msg)?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        match &self.transport {
            Transport::File { dir } => {
                let path = eml_path(dir, &key_token(&msg.key));
                let bytes = message.formatted();
                let p = path.clone();
                tokio::task::spawn_blocking(move || write_atomically(&p, &bytes))
                    .await
                    .map_err(|e| SendError::transient(format!("writing the .eml file: {e}")))?
                    .map_err(|e| {
                        SendError::transient(format!("writing {}: {e}", path.display()))
                    })?;
                tracing::debug!(key = %msg.key, path = %path.display(), "email written to outbox");
                Ok(())
            }
            Transport::Smtp(smtp) => {
                smtp.send(message, &email_addresses(msg)).await?;
                tracing::debug!(key = %msg.key, "email accepted by the SMTP server");
                Ok(())
            }
        }
    }
}

// ---- Building the message ------------------------------------------------------------------

/// Builds the message for `msg`: From `from`, To every email contact of the recipient (display
/// name = the recipient's name), subject, a text and an HTML part (multipart/alternative; text
/// only when the HTML is empty), `Message-ID: <{key}@{domain of from}>`, `Date`,
/// `X-Rustig-Key: {key}`
/// and `Auto-Submitted: auto-generated` (RFC 3834: no vacation replies to a no-reply sender).
///
/// Keys made only of letters, digits, `-`, `_` and inner single dots (at most 128 characters,
/// as rustig's hex keys are) are used verbatim; any other key is replaced, stably, by `h`
/// followed by the hex SHA-256 of the key, so it always makes a valid `Message-ID` and a safe
/// file name.
///
/// An unusable `from`, a recipient without email address, or an invalid address is a
/// [`SendError::Permanent`]; the error names the contact's position, never the address.
pub fn build_message(from: &str, msg: &Outgoing) -> Result<Message, SendError> {
    let from: Mailbox = from.parse().map_err(|e| {
        SendError::Permanent(format!("the sender address (email.from) is invalid: {e}"))
    })?;
    build_with(&from, msg)
}

fn build_with(from: &Mailbox, msg: &Outgoing) -> Result<Message, SendError> {
    let token = key_token(&msg.key);
    let name = msg.recipient_name.trim();
    let name = (!name.is_empty()).then(|| name.to_string());

    let mut builder = Message::builder()
        .from(from.clone())
        .subject(msg.content.subject.clone())
        .message_id(Some(format!(
            "<{token}@{}>",
            from.email.domain().to_ascii_lowercase()
        )))
        .date_now()
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Rustig-Key"),
            token.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    // RFC 2369 and RFC 8058: the mail program's "unsubscribe" button sets the calmest
    // setting the school's rules allow (never silence where the law requires delivery).
    if let Some(url) = &msg.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ));
    }

    let mut count = 0;
    for (i, contact) in msg.contacts.iter().enumerate() {
        let Contact::Email(raw) = contact else {
            continue;
        };
        let address: Address = raw.trim().parse().map_err(|e| {
            SendError::Permanent(format!(
                "recipient {}: contact {} is not a valid email address: {e}",
                msg.recipient,
                i + 1
            ))
        })?;
        builder = builder.to(Mailbox::new(name.clone(), address));
        count += 1;
    }
    if count == 0 {
        return Err(SendError::Permanent(format!(
            "recipient {} has no email address",
            msg.recipient
        )));
    }

    let text = SinglePart::plain(msg.content.text.clone());
    let built = if msg.content.html.trim().is_empty() {
        builder.singlepart(text)
    } else {
        builder.multipart(
            MultiPart::alternative()
                .boundary(boundary(&token))
                .singlepart(text)
                .singlepart(SinglePart::html(msg.content.html.clone())),
        )
    };
    built.map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))
}

/// The key as used in `Message-ID`, `X-Rustig-Key` and the file name.
fn key_token(key: &str) -> Cow<'_, str> {
    let safe = !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if safe {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("h{}", hex::encode(Sha256::digest(key.as_bytes()))))
    }
}

/// A MIME boundary derived from the key, so that a resend is byte-identical but for `Date`.
fn boundary(token: &str) -> String {
    let digest = Sha256::digest(format!("boundary\0{token}").as_bytes());
    format!("rustig-{}", hex::encode(&digest[..12]))
}

fn email_addresses(msg: &Outgoing) -> Vec<String> {
    msg.contacts
        .iter()
        .filter_map(|c| match c {
            Contact::Email(a) => Some(a.trim().to_string()),
            _ => None,
        })
        .filter(|a| !a.is_empty())
        .collect()
}

// ---- File transport ------------------------------------------------------------------------

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn eml_path(dir: &Path, token: &str) -> PathBuf {
    dir.join(format!("{token}.eml"))
}

/// Creates the outbox and removes temp files a crash may have left (`.{key}.eml.*.tmp`).
fn prepare_outbox(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && name.ends_with(".tmp") && name.contains(".eml.") {
            // Best effort: a leftover that cannot be removed does no harm.
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one:
/// temp file in the same directory, fsync, rename over `path`, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;

    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

// ---- SMTP transport ------------------------------------------------------------------------

/// The relay as the admin status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHealth {
    /// `host:port`.
    pub relay: String,
    /// The fault in force (an untrusted certificate, no STARTTLS where required): messages
    /// are held, without connecting, until a probe succeeds.
    pub fault: Option<String>,
    pub fault_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Sends held since the fault began.
    pub held: u64,
    /// The relay's last refusal of EHLO or AUTH (messages went dead with it), until a
    /// message goes through again.
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The SMTP transport: a pool of connections with `TCP_NODELAY` (see `smtp_pool` for why
/// not lettre's own transport), at most `pool_size` sends at once, each within `timeout`.
struct Smtp {
    pool: SmtpPool,
    timeout: Duration,
    /// At most `pool_size` messages in flight, hence at most `pool_size` connections open.
    permits: Semaphore,
    gate: FaultGate,
}

impl Smtp {
    fn new(
        smtp: &SmtpConfig,
        from: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Smtp, EmailError> {
        let target = SmtpTarget::parse(&smtp.url, smtp.tls).map_err(EmailError::Url)?;
        let hello = effective_helo_name(smtp, from).map_err(EmailError::HeloName)?;
        let extra_cas = match &smtp.ca_file {
            None => vec![],
            Some(path) => read_ca_file(path).map_err(EmailError::CaFile)?,
        };
        let tls = trust::tls_parameters(&target.host, &extra_cas).map_err(EmailError::Tls)?;
        let (system_cas, unreadable) = trust::system_ca_count();
        tracing::info!(
            relay = %target.server(),
            tls = target.tls.as_str(),
            helo = %hello,
            system_cas,
            unreadable_ca_files = unreadable,
            ca_file_cas = extra_cas.len(),
            "SMTP relay configured"
        );
        let pool_size = smtp.pool_size.max(1) as usize;
        let endpoint = Endpoint::new(target, tls, hello, credentials);
        Ok(Smtp {
            pool: SmtpPool::new(endpoint, pool_size),
            timeout,
            permits: Semaphore::new(pool_size),
            gate: FaultGate::default(),
        })
    }

    async fn send(&self, message: Message, addresses: &[String]) -> Result<(), SendError> {
        // Formatted before a connection's permit is taken: a permit is a connection, which
        // would otherwise idle while this message is put together.
        let email = message.formatted();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::transient("the SMTP channel is shutting down"))?;
        if let Admit::Hold {
            message,
            retry_after,
        } = self.gate.admit(std::time::Instant::now())
        {
            return Err(SendError::Transient {
                message: format!("SMTP: {message}"),
                retry_after: Some(retry_after),
            });
        }
        // On timeout the send is dropped, and with it its connection, which may be
        // mid-transaction: it is closed, never reused.
        let result =
            tokio::time::timeout(self.timeout, self.pool.send(message.envelope(), &email)).await;
        self.outcome(result.map(|r| r.map(|_response| ())), addresses)
    }

    async fn probe(&self) -> Result<String, SendError> {
        let result = tokio::time::timeout(self.timeout, self.pool.probe()).await;
        let text = match &result {
            Ok(Ok(description)) => Some(description.clone()),
            _ => None,
        };
        self.outcome(result.map(|r| r.map(|_| ())), &[])?;
        Ok(text.unwrap_or_default())
    }

    /// The send's (or probe's) result as the scheduler sees it; relay faults go to the gate.
    fn outcome(
        &self,
        result: Result<Result<(), Failure>, tokio::time::error::Elapsed>,
        addresses: &[String],
    ) -> Result<(), SendError> {
        match result {
            Ok(Ok(())) => {
                if self.gate.succeeded() {
                    tracing::info!(relay = %self.pool.server(), "SMTP relay works again; held messages go out");
                }
                Ok(())
            }
            Ok(Err(Failure::Relay(message))) => {
                if self
                    .gate
                    .failed(&message, std::time::Instant::now(), chrono::Utc::now())
                {
                    tracing::error!(
                        relay = %self.pool.server(),
                        probe_every = %humantime::format_duration(relay_fault::PROBE_EVERY),
                        "SMTP relay unusable, messages are held: {message}"
                    );
                }
                Err(SendError::Transient {
                    message: format!("SMTP: {}: {message}", relay_fault::MARK),
                    retry_after: Some(relay_fault::PROBE_EVERY),
                })
            }
            Ok(Err(Failure::Smtp(e))) => Err(classify(&e, addresses)),
            Ok(Err(Failure::Setup { stage, error })) => {
                let err = classify(&error, addresses);
                if error.is_permanent() {
                    // Every message meets the same refusal: the status says so.
                    let text = redact(&error.to_string(), addresses);
                    self.gate.setup_failed(
                        &format!("the relay {} refused {stage}: {text}", self.pool.server()),
                        chrono::Utc::now(),
                    );
                }
                Err(err)
            }
            Ok(Err(Failure::Connect { server, source })) => Err(SendError::transient(format!(
                "SMTP: cannot connect to {server}: {source}"
            ))),
            Err(_elapsed) => Err(SendError::transient(format!(
                "SMTP: no answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }
}

/// SMTP 5xx → permanent; everything else (4xx, connection, I/O, TLS, timeouts, a server
/// lacking a needed extension) → transient.
fn classify(err: &lettre::transport::smtp::Error, addresses: &[String]) -> SendError {
    let text = redact(&err.to_string(), addresses);
    if err.is_permanent() {
        SendError::Permanent(format!("SMTP server refused the message: {text}"))
    } else if err.is_transient() {
        SendError::transient(format!("SMTP server deferred the message: {text}"))
    } else {
        SendError::transient(format!("SMTP: {text}"))
    }
}

/// Replaces every occurrence (ASCII case-insensitive) of the addresses in `text`.
fn redact(text: &str, addresses: &[String]) -> String {
    let mut out = text.to_string();
    for address in addresses.iter().filter(|a| !a.is_empty()) {
        let needle = address.to_ascii_lowercase();
        let mut result = String::with_capacity(out.len());
        let lower = out.to_ascii_lowercase();
        let mut pos = 0;
        while let Some(found) = lower[pos..].find(&needle) {
            result.push_str(&out[pos..pos + found]);
            result.push_str("<recipient>");
            pos += found + needle.len();
        }
        result.push_str(&out[pos..]);
        out = result;
    }
    out
}

/// The password from the file (trailing newline removed) or else from the environment.
fn resolve_password(from_file: Option<String>, from_env: Option<String>) -> Option<String> {
    from_file
        .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
        .or(from_env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelKind, Locale, Role};
    use crate::send::Rendered;
    use std::sync::Arc;

    const FROM: &str = "Coornhert Lyceum <noreply@coornhert.example>";

    fn outgoing(key: &str, contacts: Vec<Contact>) -> Outgoing {
        Outgoing {
            key: key.to_string(),
            school: "coornhert".into(),
            recipient: "g-2001".into(),
            recipient_name: "Anna de Jong".into(),
            role: Role::Guardian,
            channel: ChannelKind::Email,
            contacts,
            locale: Locale::Nl,
            content: Rendered {
                subject: "Nieuw cijfer voor wiskunde".into(),
                text: "Merel heeft een cijfer gekregen voor wiskunde.".into(),
                html: "<p>Merel heeft een cijfer gekregen voor <b>wiskunde</b>.</p>".into(),
                title: String::new(),
                body: String::new(),
            },
            notices: vec![],
            settings_url: None,
            unsubscribe_url: None,
        }
    }

    fn anna() -> Vec<Contact> {
        vec![
            Contact::Email("anna@example.nl".into()),
            Contact::Ntfy("https://ntfy.example/abc".into()),
            Contact::Email("anna.werk@example.com".into()),
        ]
    }

    fn text(msg: &Message) -> String {
        String::from_utf8(msg.formatted()).unwrap()
    }

    /// Headers (unfolded) and body of a raw message.
    fn split(raw: &str) -> (Vec<(String, String)>, String) {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                headers.last_mut().unwrap().1.push_str(line.trim_start());
            } else {
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.to_string(), value.trim().to_string()));
            }
        }
        (headers, body.to_string())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parts of a multipart body: (content type, decoded-enough body).
    fn parts(headers: &[(String, String)], body: &str) -> Vec<(String, String)> {
        let ct = header(headers, "Content-Type").unwrap();
        let boundary = ct
            .split("boundary=")
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .to_string();
        let delimiter = format!("--{boundary}");
        let mut out = Vec::new();
        for chunk in body.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let chunk = chunk.trim_start_matches("\r\n");
            let (h, b) = split(chunk);
            out.push((
                header(&h, "Content-Type").unwrap().to_string(),
                b.trim_end().to_string(),
            ));
        }
        out
    }

    #[test]
    fn message_has_text_and_html_parts_and_all_addresses() {
        let msg = build_message(FROM, &outgoing("abc123", anna())).unwrap();
        let raw = text(&msg);
        let (headers, body) = split(&raw);
        assert_eq!(
            header(&headers, "From"),
            Some("\"Coornhert Lyceum\" <noreply@coornhert.example>")
        );
        let to = header(&headers, "To").unwrap();
        assert!(to.contains("<anna@example.nl>"), "{to}");
        assert!(to.contains("<anna.werk@example.com>"), "{to}");
        assert!(to.contains("Anna de Jong"), "{to}");
        assert_eq!(
            header(&headers, "Subject"),
            Some("Nieuw cijfer voor wiskunde")
        );
        assert_eq!(header(&headers, "X-Rustig-Key"), Some("abc123"));
        assert_eq!(header(&headers, "Auto-Submitted"), Some("auto-generated"));
        assert!(header(&headers, "Date").is_some());
        assert!(header(&headers, "Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"));

        let parts = parts(&headers, &body);
        assert_eq!(parts.len(), 2, "{raw}");
        assert!(parts[0].0.starts_with("text/plain"), "{:?}", parts[0]);
        assert_eq!(parts[0].1, "Merel heeft een cijfer gekregen voor wiskunde.");
        assert!(parts[1].0.starts_with("text/html"), "{:?}", parts[1]);
        assert!(parts[1].1.contains("<b>wiskunde</b>"));

        let envelope = msg.envelope();
        assert_eq!(
            envelope.from().unwrap().to_string(),
            "noreply@coornhert.example"
        );
        let to: Vec<String> = envelope.to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, ["anna@example.nl", "anna.werk@example.com"]);
    }

    #[test]
    fn message_id_is_derived_from_the_key_and_stable() {
        let a = build_message(FROM, &outgoing("0f1e2d3c4b5a", anna())).unwrap();
        let b = build_message(FROM, &outgoing("0f1e2d3c4b5a", anna())).unwrap();
        let c = build_message(FROM, &outgoing("ffff", anna())).unwrap();
        let id = |m: &Message| {
            header(&split(&text(m)).0, "Message-ID")
                .unwrap()
                .to_string()
        };
        assert_eq!(id(&a), "<0f1e2d3c4b5a@coornhert.example>");
        assert_eq!(id(&a), id(&b));
        assert_eq!(id(&c), "<ffff@coornhert.example>");
        // Same key: the same bytes apart from the Date header (same boundary too).
        let without_date = |m: &Message| {
            text(m)
                .split("\r\n")
                .filter(|l| !l.starts_with("Date:"))
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        assert_eq!(without_date(&a), without_date(&b));
    }

    #[test]
    fn unsafe_keys_become_a_stable_hash() {
        let key = "school/evt 1@x";
        let a = build_message(FROM, &outgoing(key, anna())).unwrap();
        let b = build_message(FROM, &outgoing(key, anna())).unwrap();
        let id = |m: &Message| {
            header(&split(&text(m)).0, "Message-ID")
                .unwrap()
                .to_string()
        };
        assert_eq!(id(&a), id(&b));
        let token = key_token(key);
        assert!(token.starts_with('h') && token.len() == 65, "{token}");
        assert_eq!(id(&a), format!("<{token}@coornhert.example>"));
        assert_eq!(key_token("a.b-c_d"), "a.b-c_d");
        assert_ne!(key_token(".."), "..");
        assert_ne!(key_token(""), "");
    }

    #[test]
    fn non_ascii_text_is_encoded() {
        let mut out = outgoing("k1", anna());
        out.content.subject = "Cijfer voor Frans: één nieuw".into();
        out.recipient_name = "Zoë Çelik".into();
        out.content.text = "Zoë heeft één nieuw cijfer.".into();
        let raw = text(&build_message(FROM, &out).unwrap());
        assert!(raw.is_ascii(), "{raw}");
        let (headers, _) = split(&raw);
        assert!(
            header(&headers, "Subject").unwrap().contains("=?utf-8?"),
            "{raw}"
        );
        assert!(
            header(&headers, "To").unwrap().contains("=?utf-8?"),
            "{raw}"
        );
    }

    #[test]
    fn empty_html_gives_a_text_only_message() {
        let mut out = outgoing("k2", anna());
        out.content.html = String::new();
        let raw = text(&build_message(FROM, &out).unwrap());
        let (headers, body) = split(&raw);
        assert!(header(&headers, "Content-Type")
            .unwrap()
            .starts_with("text/plain"));
        assert!(body.contains("Merel heeft een cijfer"));
    }

    #[test]
    fn invalid_or_missing_addresses_are_permanent_and_not_named() {
        let bad = outgoing(
            "k3",
            vec![
                Contact::Email("anna@example.nl".into()),
                Contact::Email("peter-at-example.com".into()),
            ],
        );
        match build_message(FROM, &bad) {
            Err(SendError::Permanent(m)) => {
                assert!(m.contains("contact 2"), "{m}");
                assert!(m.contains("g-2001"), "{m}");
                assert!(!m.contains("peter"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let none = outgoing("k4", vec![Contact::Fcm("token".into())]);
        assert!(matches!(
            build_message(FROM, &none),
            Err(SendError::Permanent(m)) if m.contains("no email address")
        ));
        assert!(matches!(
            build_message("not an address", &outgoing("k5", anna())),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn redact_hides_addresses_case_insensitively() {
        let s = redact(
            "550 5.1.1 <Anna@Example.nl>: no such user; anna@example.nl",
            &["anna@example.nl".to_string()],
        );
        assert_eq!(s, "550 5.1.1 <<recipient>>: no such user; <recipient>");
    }

    #[test]
    fn password_from_file_wins_and_loses_its_newline() {
        assert_eq!(
            resolve_password(Some("geheim\n".into()), Some("env".into())),
            Some("geheim".into())
        );
        assert_eq!(
            resolve_password(None, Some("env".into())),
            Some("env".into())
        );
        assert_eq!(resolve_password(None, None), None);
    }

    fn file_config(dir: &Path) -> EmailConfig {
        EmailConfig {
            transport: EmailTransportConfig::File {
                dir: dir.to_path_buf(),
            },
            from: FROM.into(),
            timeout: Duration::from_secs(5),
            dkim: None,
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn file_transport_writes_key_eml_once() {
        let tmp = tempfile::tempdir().unwrap();
        let outbox = tmp.path().join("var/outbox");
        // A temp file left by a crash is cleaned up at start.
        std::fs::create_dir_all(&outbox).unwrap();
        std::fs::write(outbox.join(".old.eml.1.0.tmp"), "half").unwrap();
        let channel = EmailChannel::new(&file_config(&outbox)).await.unwrap();
        assert!(dir_entries(&outbox).is_empty());

        let msg = outgoing("5d41402abc4b2a76", anna());
        channel.send(&msg).await.unwrap();
        assert_eq!(dir_entries(&outbox), ["5d41402abc4b2a76.eml"]);
        let path = channel.file_path(&msg.key).unwrap();
        assert_eq!(path, outbox.join("5d41402abc4b2a76.eml"));

        let raw = std::fs::read_to_string(&path).unwrap();
        let (headers, body) = split(&raw);
        assert_eq!(
            header(&headers, "Message-ID"),
            Some("<5d41402abc4b2a76@coornhert.example>")
        );
        assert_eq!(header(&headers, "X-Rustig-Key"), Some("5d41402abc4b2a76"));
        assert_eq!(
            header(&headers, "Subject"),
            Some("Nieuw cijfer voor wiskunde")
        );
        let parts = parts(&headers, &body);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].0.starts_with("text/plain"));
        assert_eq!(parts[0].1, "Merel heeft een cijfer gekregen voor wiskunde.");
        assert!(parts[1].0.starts_with("text/html"));

        // A resend (after a crash before the commit) replaces the same file.
        let mut again = msg.clone();
        again.content.text = "Tweede poging.".into();
        channel.send(&again).await.unwrap();
        assert_eq!(dir_entries(&outbox), ["5d41402abc4b2a76.eml"]);
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains("Tweede poging."));

        // Another key, another file; a message without address writes nothing.
        channel.send(&outgoing("k-2", anna())).await.unwrap();
        let none = outgoing("k-3", vec![Contact::Fcm("t".into())]);
        assert!(matches!(
            channel.send(&none).await,
            Err(SendError::Permanent(_))
        ));
        assert_eq!(dir_entries(&outbox), ["5d41402abc4b2a76.eml", "k-2.eml"]);
    }

    #[tokio::test]
    async fn concurrent_sends_of_one_key_leave_one_whole_file() {
        let tmp = tempfile::tempdir().unwrap();
        let channel = Arc::new(EmailChannel::new(&file_config(tmp.path())).await.unwrap());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let channel = Arc::clone(&channel);
            tasks.push(tokio::spawn(async move {
                channel.send(&outgoing("same-key", anna())).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(dir_entries(tmp.path()), ["same-key.eml"]);
        let raw = std::fs::read_to_string(tmp.path().join("same-key.eml")).unwrap();
        assert!(raw.trim_end().ends_with("--"), "{raw}");
    }

    #[tokio::test]
    async fn setup_errors() {
        let mut cfg = file_config(Path::new("/nonexistent"));
        cfg.from = "nobody".into();
        assert!(matches!(
            EmailChannel::new(&cfg).await,
            Err(EmailError::From { .. })
        ));

        let smtp =
            |url: &str, username: Option<&str>, password_file: Option<PathBuf>| EmailConfig {
                transport: EmailTransportConfig::Smtp(SmtpConfig {
                    username: username.map(Into::into),
                    password_file,
                    pool_size: 2,
                    ..SmtpConfig::new(url)
                }),
                from: FROM.into(),
                timeout: Duration::from_secs(5),
                dkim: None,
            };
        assert!(matches!(
            EmailChannel::new(&smtp("http://example.com", None, None)).await,
            Err(EmailError::Url(_))
        ));
        assert!(matches!(
            EmailChannel::new(&smtp(
                "smtp://127.0.0.1:2525",
                Some("rustig"),
                Some("/nonexistent/password".into())
            ))
            .await,
            Err(EmailError::PasswordFile { .. })
        ));
        let tmp = tempfile::tempdir().unwrap();
        let pw = tmp.path().join("pw");
        std::fs::write(&pw, "geheim\n").unwrap();
        let ch = EmailChannel::new(&smtp("smtp://127.0.0.1:2525", Some("rustig"), Some(pw)))
            .await
            .unwrap();
        assert!(ch.file_path("k").is_none());
        for url in [
            "smtps://mail.example.com",
            "smtp://mail.example.com:587?tls=required",
        ] {
            EmailChannel::new(&smtp(url, None, None)).await.unwrap();
        }
    }
}
