//! The `rustig` command line: run the daemon, check a config, simulate, explain, import.

/// mimalloc, not glibc's malloc: planning allocates a few strings per notice, and a what-if
/// over two weeks of a large school took 1.83 s with glibc, 1.40 s with it (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use rustig::clock::{Clock, SystemClock};
use rustig::config::Config;
use rustig::policy::{explain, plan, Facts};
use rustig::store::audit::{AuditEntry, AuditFilter};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "rustig",
    version,
    about = "A calm notification scheduler for schools / Een rustige berichtenplanner voor scholen"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: ingest events, hold notices, send them when the rules allow.
    Run {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
    },
    /// Validate a config (and optionally a directory); print the effective rules per school.
    Check {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Also connect to the SMTP relay (greeting, TLS, AUTH) and say QUIT, sending nothing.
        #[arg(long)]
        smtp: bool,
    },
    /// Replay events on a virtual clock and print every message that would go out (NDJSON).
    Simulate {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        directory: PathBuf,
        #[arg(long)]
        events: PathBuf,
        /// Stop at this instant (RFC 3339) even if notices are still pending.
        #[arg(long)]
        until: Option<DateTime<chrono::FixedOffset>>,
        /// Also print suppressed notices with their reasons.
        #[arg(long)]
        explain: bool,
    },
    /// Say per recipient and channel when an event's notices are due, and why.
    Explain {
        #[arg(long)]
        config: PathBuf,
        /// Plan against this directory file (default: the one the config names).
        #[arg(long)]
        directory: Option<PathBuf>,
        /// A JSON file with one event; planned as if nothing else happened yet.
        #[arg(long, conflicts_with = "event_id")]
        event: Option<PathBuf>,
        /// An event id in the daemon's store: shows its stored notices and their state.
        #[arg(long)]
        event_id: Option<String>,
        /// Plan as of this instant (RFC 3339); default: the event's occurred_at.
        #[arg(long)]
        now: Option<DateTime<chrono::FixedOffset>>,
    },
    /// Replace the directory in the daemon's store with a JSON file (DESIGN.md schema).
    ImportDirectory {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        file: PathBuf,
    },
    /// Print a new VAPID key pair for Web Push (`[webpush] vapid_private_key_file`).
    VapidKeygen {
        /// Write the private key to this new file (mode 0600) instead of printing it.
        #[arg(long)]
        private_key_file: Option<PathBuf>,
    },
    /// Make a DKIM key (`[email.dkim] private_key_file`) and print the DNS record to publish.
    DkimKeygen {
        /// Write the private key (PEM) to this new file, mode 0600.
        #[arg(long)]
        private_key_file: PathBuf,
        /// The selector: the record is `{selector}._domainkey.{domain}`.
        #[arg(long, default_value = "rustig")]
        selector: String,
        /// The signing domain (the domain of `[email] from`).
        #[arg(long)]
        domain: String,
        /// Ed25519 instead of RSA 2048 (short, but not verified by every receiver yet).
        #[arg(long)]
        ed25519: bool,
    },
    /// Make or rotate the key that signs preference-page links (`[preferences] key_file`):
    /// a new key signs from the next reload, the old one keeps verifying for `--grace`.
    PrefsKey {
        #[arg(long)]
        key_file: PathBuf,
        /// How long links signed with the old key keep working (default: 30d, the default
        /// `link_ttl`).
        #[arg(long, default_value = "30d")]
        grace: humantime::Duration,
    },
    /// Put dead messages back to pending: all of them (--dead) or one event's (--event-id).
    Resend {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        /// Every dead notice.
        #[arg(long, required_unless_present = "event_id")]
        dead: bool,
        /// Only the dead notices of this event.
        #[arg(long)]
        event_id: Option<String>,
    },
    /// Erase one student's data on request (AVG): their events, every notice about them, and
    /// quarantined input naming them; written to the audit trail.
    Erase {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        /// The student's id (as in events and the directory), in every school.
        #[arg(long)]
        student: String,
    },
    /// Print the audit trail (operator actions, changed choices) as NDJSON, oldest first.
    Audit {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        /// Only this action, or every action under a prefix ending in `.` (`notices.`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this target (`event:e-17`, `student:s-4`).
        #[arg(long)]
        target: Option<String>,
        /// Only entries at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<chrono::FixedOffset>>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Try a candidate config against the store of the config in force, changing nothing:
    /// every error, or what it would move (pending notices and the last days' events).
    Whatif {
        /// The candidate config.
        #[arg(long)]
        config: PathBuf,
        /// The config in force (its store, directory and rules are compared against).
        #[arg(long, default_value = "config/rustig.toml")]
        current: PathBuf,
        /// Days of stored events to replay.
        #[arg(long, default_value_t = rustig::whatif::DEFAULT_DAYS)]
        days: u32,
        /// As JSON (the admin API's `POST /v1/whatif`).
        #[arg(long)]
        json: bool,
    },
    /// Print what is waiting per school, when it goes, what failed (from the store; the
    /// daemon need not run).
    Status {
        #[arg(long, default_value = "config/rustig.toml")]
        config: PathBuf,
        /// As JSON (the admin API's `GET /v1/status`).
        #[arg(long)]
        json: bool,
    },
    /// Measure ingest, hold, release and restart on a synthetic workload (BENCHMARKS.md).
    /// Runs `rustig-bench` from the same folder: `cargo build --release --workspace`.
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on to `rustig-bench` (`rustig bench --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// The zone log lines are stamped in: the config's `timezone` once it is read, UTC before.
static LOG_ZONE: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();

/// Stamps log lines in the school's local time with its offset
/// (`2026-11-23T11:05:00.123+01:00`), the way operators read every other instant.
struct SchoolTime;

impl tracing_subscriber::fmt::time::FormatTime for SchoolTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let tz = LOG_ZONE.get().copied().unwrap_or(chrono_tz::UTC);
        let now = SystemClock.now().with_timezone(&tz);
        write!(
            w,
            "{}",
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        )
    }
}

/// `default` applies when RUSTIG_LOG is not set. Colours only for a terminal: a journal or a
/// file gets plain text.
fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_env("RUSTIG_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SchoolTime)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("RUSTIG_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    let config = Config::load(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(2)
    })?;
    let _ = LOG_ZONE.set(config.default_policy.calendar.tz);
    Ok(config)
}

/// Commands that print for a pipe (`rustig check … | head -1`) end quietly when the reader
/// goes away, as other Unix tools do, instead of panicking in `println!`. Not the daemon: it
/// keeps running when a client hangs up.
fn quiet_on_broken_pipe() {
    // SAFETY: called first in `main`, before any thread starts; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench { args } = &cli.command {
        return bench(args);
    }
    if !matches!(cli.command, Command::Run { .. }) {
        quiet_on_broken_pipe();
    }
    init_logging("info");
    let result = match cli.command {
        Command::Run { config } => match load_config(&config) {
            Ok(c) => run(c).await,
            Err(code) => return code,
        },
        Command::Check {
            config,
            directory,
            smtp,
        } => {
            let code = check(&config, directory.as_deref());
            if !smtp || code != ExitCode::SUCCESS {
                return code;
            }
            return check_smtp(&config).await;
        }
        Command::Simulate {
            config,
            directory,
            events,
            until,
            explain,
        } => match load_config(&config) {
            Ok(c) => {
                simulate(
                    c,
                    &directory,
                    &events,
                    until.map(|u| u.with_timezone(&Utc)),
                    explain,
                )
                .await
            }
            Err(code) => return code,
        },
        Command::Explain {
            config,
            directory,
            event,
            event_id,
            now,
        } => match load_config(&config) {
            Ok(c) => {
                explain_cmd(
                    c,
                    directory.as_deref(),
                    event.as_deref(),
                    event_id.as_deref(),
                    now,
                )
                .await
            }
            Err(code) => return code,
        },
        Command::ImportDirectory { config, file } => match load_config(&config) {
            Ok(c) => import_directory(c, &file).await,
            Err(code) => return code,
        },
        Command::VapidKeygen { private_key_file } => vapid_keygen(private_key_file.as_deref()),
        Command::DkimKeygen {
            private_key_file,
            selector,
            domain,
            ed25519,
        } => dkim_keygen(&private_key_file, &selector, &domain, ed25519),
        Command::PrefsKey { key_file, grace } => prefs_key(&key_file, grace.into()),
        Command::Resend {
            config,
            dead: _,
            event_id,
        } => match load_config(&config) {
            Ok(c) => resend(c, event_id.as_deref()).await,
            Err(code) => return code,
        },
        Command::Erase { config, student } => match load_config(&config) {
            Ok(c) => erase(c, &student).await,
            Err(code) => return code,
        },
        Command::Audit {
            config,
            action,
            target,
            since,
            limit,
        } => match load_config(&config) {
            Ok(c) => {
                let filter = AuditFilter {
                    action,
                    target,
                    since: since.map(|t| t.with_timezone(&Utc)),
                    ..AuditFilter::default()
                };
                audit(c, &filter, limit).await
            }
            Err(code) => return code,
        },
        Command::Status { config, json } => match load_config(&config) {
            Ok(c) => status(c, json).await,
            Err(code) => return code,
        },
        Command::Whatif {
            config,
            current,
            days,
            json,
        } => match load_config(&current) {
            Ok(c) => match whatif(c, &config, days, json).await {
                Ok(code) => return code,
                Err(e) => Err(e),
            },
            Err(code) => return code,
        },
        Command::Bench { .. } => unreachable!("handled before logging starts"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<()> {
    let path = config.file.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let running = rustig::daemon::start(config, clock.clone())
        .await
        .with_context(|| format!("starting with {}", path.display()))?;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => match Config::load(&path) {
                Ok(c) => match running.reload(c, clock.now()).await {
                    Ok(n) => tracing::info!(records = n, "config reloaded; pending notices re-planned"),
                    Err(e) => tracing::error!("reload failed: {e}"),
                },
                Err(errors) => {
                    rustig::observe::metrics::reload(false);
                    tracing::error!("config not reloaded:\n{errors}");
                }
            },
        }
    }
    tracing::info!("stopping: no new events; finishing sends in flight");
    running.shutdown().await;
    Ok(())
}

fn check(path: &Path, directory: Option<&Path>) -> ExitCode {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dir_path = directory
        .map(Path::to_path_buf)
        .or_else(|| config.directory_file.clone());
    if let Some(d) = dir_path {
        match rustig::reload::read_directory(&d) {
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
            // Not an error: the directory may run ahead of the config.
            Ok(dir) => {
                for u in config.channels.unconfigured(dir.data()) {
                    eprintln!("warning: directory {}: {u}", d.display());
                }
            }
        }
    }
    let mut templates = String::new();
    if let Some(dir) = &config.templates_dir {
        match rustig::render::Renderer::load(Some(dir)) {
            Err(e) => {
                eprintln!("{}: {e}", config.file.display());
                return ExitCode::from(2);
            }
            Ok(r) => {
                for (name, path) in r.operator_templates() {
                    let what = if rustig::render::Renderer::is_builtin(name) {
                        "replaces the built-in"
                    } else {
                        "partial"
                    };
                    templates.push_str(&format!("\ntemplate {name}: {} ({what})", path.display()));
                }
            }
        }
    }
    println!(
        "ok\n\n{}{}",
        config.summary(),
        if templates.is_empty() {
            String::new()
        } else {
            format!("\n{templates}")
        }
    );
    ExitCode::SUCCESS
}

/// `rustig check --smtp`: one connection to the relay as the daemon would make it.
async fn check_smtp(path: &Path) -> ExitCode {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let channel = match rustig::send::email::EmailChannel::new(&config.email).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", config.file.display());
            return ExitCode::from(2);
        }
    };
    match channel.probe().await {
        Ok(line) => {
            println!("\nsmtp ok: {line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smtp: {e}");
            ExitCode::from(1)
        }
    }
}

async fn simulate(
    config: Config,
    directory: &Path,
    events: &Path,
    until: Option<DateTime<Utc>>,
    explain: bool,
) -> Result<()> {
    let dir = rustig::reload::read_directory(directory)?;
    let bytes = std::fs::read(events).with_context(|| format!("reading {}", events.display()))?;
    let opts = rustig::simulate::Options { until, explain };
    let report = rustig::simulate::run(config, dir, &bytes, &opts).await?;
    for e in &report.input_errors {
        eprintln!("{}: {e}", events.display());
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in &report.lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

async fn explain_cmd(
    config: Config,
    directory: Option<&Path>,
    event: Option<&Path>,
    event_id: Option<&str>,
    now: Option<DateTime<chrono::FixedOffset>>,
) -> Result<()> {
    if let Some(id) = event_id {
        let store = rustig::store::open(&config.store_url).await?;
        let dir = match directory {
            Some(d) => rustig::reload::read_directory(d)?,
            None => rustig::reload::initial_directory(&config, &*store, Utc::now()).await?,
        };
        let dir = rustig::shared::planning_directory(&config, dir, &*store).await?;
        let now = now.map(|n| n.with_timezone(&Utc)).unwrap_or_else(Utc::now);
        match rustig::admin::event::report(&*store, &config, &dir, id, now).await? {
            Some(report) => print!("{}", report.text),
            None => {
                bail!("no event {id} is stored (input that could not be read is in quarantine)")
            }
        }
        return Ok(());
    }
    let Some(event) = event else {
        bail!("give --event FILE or --event-id ID");
    };
    let dir_path = directory
        .map(Path::to_path_buf)
        .or_else(|| config.directory_file.clone())
        .context("no directory: give --directory or set [directory] file")?;
    let dir = rustig::reload::read_directory(&dir_path)?;
    // Planned as the daemon plans: with the families' stored choices and gone contacts (a
    // store not made yet holds none).
    let dir = if rustig::store::may_exist(&config.store_url) {
        let store = rustig::store::open(&config.store_url)
            .await
            .with_context(|| format!("opening the store {}", config.store_url))?;
        rustig::shared::planning_directory(&config, dir, &*store).await?
    } else {
        std::sync::Arc::new(dir)
    };
    let raw = std::fs::read(event).with_context(|| format!("reading {}", event.display()))?;
    let event = rustig::model::Event::parse(&raw)
        .map_err(|e| anyhow::anyhow!("{}: {e}", event.display()))?;
    let event = rustig::ingest::check_school(&config, event).map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = config.policy(&event.school).expect("checked above");
    let now = now
        .map(|n| n.with_timezone(&Utc))
        .unwrap_or_else(|| event.occurred_utc());
    let p = plan(&event, &Facts::default(), &dir, policy, now);
    for n in &p.notices {
        println!("{}", explain::notice_line(n, policy.calendar.tz));
    }
    for s in &p.suppressed {
        println!("{}", explain::suppressed_line(s));
    }
    if p.notices.is_empty() && p.suppressed.is_empty() {
        println!("nothing to send for a {} event", event.type_name());
    }
    Ok(())
}

async fn import_directory(config: Config, file: &Path) -> Result<()> {
    let dir = rustig::reload::read_directory(file)?;
    let store = rustig::store::open(&config.store_url).await?;
    let now = SystemClock.now();
    store.save_directory(&dir.to_json(), now).await?;
    let after = serde_json::json!({ "students": dir.len(), "file": file.display().to_string() });
    let entry = AuditEntry::new(now, cli_actor(), "directory.import", "directory");
    store
        .audit()
        .append(&entry.change(None, Some(after)))
        .await?;
    // Contacts the new directory changed are no longer gone.
    rustig::shared::load_gone(&*store, &dir).await?;
    println!("imported {} students into {}", dir.len(), config.store_url);
    if config.directory_file.is_some() {
        println!("note: [directory] file in the config replaces this at the next start");
    }
    Ok(())
}

fn dkim_keygen(path: &Path, selector: &str, domain: &str, ed25519: bool) -> Result<()> {
    use rustig::send::email::dkim::{generate, KeyKind};
    use std::io::Write;
    let kind = if ed25519 {
        KeyKind::Ed25519
    } else {
        KeyKind::Rsa
    };
    let (private, record) = generate(kind).map_err(anyhow::Error::msg)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(private.as_bytes())?;
    println!("# private key written to {}", path.display());
    println!("# publish this TXT record, then set in [email.dkim]:");
    println!(
        "#   selector = {selector:?}, domain = {domain:?}, private_key_file = {:?}",
        path.display().to_string()
    );
    println!("{selector}._domainkey.{domain}. IN TXT \"{record}\"");
    Ok(())
}

fn vapid_keygen(private_key_file: Option<&Path>) -> Result<()> {
    let (private, public) = rustig::send::webpush::generate_vapid_keys();
    match private_key_file {
        Some(path) => {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(f, "{private}")?;
            println!("# private key written to {}", path.display());
        }
        None => {
            println!(
                "# private key: the content of [webpush] vapid_private_key_file; keep it secret"
            );
            println!("{private}");
        }
    }
    println!("# public key: the applicationServerKey browsers pass to pushManager.subscribe()");
    println!("{public}");
    Ok(())
}

fn prefs_key(path: &Path, grace: std::time::Duration) -> Result<()> {
    use std::io::Write;
    let old = match std::fs::read_to_string(path) {
        Ok(t) => {
            rustig::prefs::token::Keyring::parse(&path.display().to_string(), &t)?;
            t
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let grace = chrono::Duration::from_std(grace).context("--grace is too long")?;
    let (text, id) = rustig::prefs::token::rotate(&old, chrono::Utc::now(), grace);
    // Written next to the file and renamed over it: never a half-written key file.
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "# key {id} written to {}; reload the daemon (SIGHUP) to sign with it",
        path.display()
    );
    Ok(())
}

/// `rustig bench`: the bench is a workspace member of its own (`bench/`), so that the product
/// carries no benchmark code or test servers; its binary sits next to this one.
fn bench(args: &[std::ffi::OsString]) -> ExitCode {
    let name = format!("rustig-bench{}", std::env::consts::EXE_SUFFIX);
    let Some(bin) = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(&name))
        .filter(|p| p.is_file())
    else {
        eprintln!(
            "error: {name} is not next to this rustig; build both with `cargo build --release --workspace` \
             / {name} staat niet naast deze rustig; bouw beide met `cargo build --release --workspace`"
        );
        return ExitCode::FAILURE;
    };
    match std::process::Command::new(&bin).args(args).status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: running {}: {e}", bin.display());
            ExitCode::FAILURE
        }
    }
}

async fn erase(config: Config, student: &str) -> Result<()> {
    if student.trim().is_empty() {
        bail!("--student must name a student id");
    }
    let store = rustig::store::open(&config.store_url).await?;
    let erased =
        rustig::retention::erase_student(&*store, student, &cli_actor(), SystemClock.now()).await?;
    println!(
        "erased student {student}: {} event(s), {} notice(s), {} quarantined item(s), {} gone mark(s)",
        erased.events, erased.notices, erased.quarantine, erased.gone_contacts
    );
    let listed = store
        .load_directory()
        .await?
        .and_then(|json| rustig::model::Directory::parse(json.as_bytes()).ok())
        .is_some_and(|d| d.data().students.iter().any(|s| s.id == student));
    if listed {
        println!(
            "note: the directory still lists this student; remove them in the SIS (or the \
             directory file) too, or new events will be planned for them again"
        );
    }
    Ok(())
}

async fn status(config: Config, json: bool) -> Result<()> {
    let store = rustig::store::open(&config.store_url).await?;
    let mut status = rustig::admin::status::build(&*store, &config, SystemClock.now()).await?;
    // The directory in force: the configured file, else the one imported last.
    let dir = match &config.directory_file {
        Some(path) => rustig::reload::read_directory(path).ok(),
        None => store
            .load_directory()
            .await?
            .and_then(|json| rustig::model::Directory::parse(json.as_bytes()).ok()),
    };
    if let Some(dir) = dir {
        status.unconfigured_channels = rustig::admin::status::unconfigured(&config, &dir);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", rustig::admin::status::text(&status));
    }
    Ok(())
}

/// `rustig whatif`: exit 2 with every error when the candidate does not pass check.
async fn whatif(current: Config, candidate: &Path, days: u32, json: bool) -> Result<ExitCode> {
    use rustig::whatif::{Refused, WhatIfError};
    let bytes =
        std::fs::read(candidate).with_context(|| format!("reading {}", candidate.display()))?;
    let store = rustig::store::open(&current.store_url).await?;
    let ctx = rustig::whatif::Ctx::open(current, store, SystemClock.now()).await?;
    match rustig::whatif::run(&ctx, &bytes, days).await {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", rustig::whatif::summary::text(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(WhatIfError::Refused(Refused::Invalid(errors))) => {
            for e in errors {
                eprintln!("{}:{}", candidate.display(), e.message);
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

async fn resend(config: Config, event_id: Option<&str>) -> Result<()> {
    let store = rustig::store::open(&config.store_url).await?;
    let now = SystemClock.now();
    let n = store.resend_dead(event_id, now).await?;
    let target = event_id.map_or("dead:all".to_string(), |id| format!("event:{id}"));
    let entry = AuditEntry::new(now, cli_actor(), "notices.resend", target);
    let after = serde_json::json!({ "notices": n });
    store
        .audit()
        .append(&entry.change(None, Some(after)))
        .await?;
    match event_id {
        Some(id) => println!("{n} dead notice(s) of event {id} put back to pending"),
        None => println!("{n} dead notice(s) put back to pending"),
    }
    Ok(())
}

async fn audit(config: Config, filter: &AuditFilter, limit: u32) -> Result<()> {
    let store = rustig::store::open(&config.store_url).await?;
    for record in store.audit().list(filter, None, limit).await? {
        println!("{}", serde_json::to_string(&record)?);
    }
    Ok(())
}

/// The audit trail's name for whoever runs an operator command: the Unix account.
fn cli_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    format!("cli:{}", user.as_deref().unwrap_or("unknown"))
}
