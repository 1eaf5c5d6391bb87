//! Test helpers shared by the integration tests: a real SMTP server (mailin-embedded) on
//! 127.0.0.1 that records what it receives, PostgreSQL schemas, the `rustig` daemon as a
//! child process, and (`release`) the release path on a manual clock.
#![allow(dead_code)]

pub mod daemon;
pub mod release;

use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mailin_embedded::{response, Handler, Response, Server};

pub const GONE: &str = "gone@example.nl";
pub const BUSY: &str = "busy@example.nl";

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// Records every accepted message; answers 550 on RCPT for `GONE`, 451 for `BUSY`.
/// mailin-embedded clones the handler per connection, so `current` is per connection.
#[derive(Clone)]
struct Recorder {
    inbox: Inbox,
    permanent: Arc<HashSet<String>>,
    transient: Arc<HashSet<String>>,
    /// SMTP sessions opened (connections that said EHLO/HELO; rustig says EHLO twice).
    sessions: Arc<AtomicUsize>,
    /// This connection said EHLO/HELO (mailin-embedded clones the handler per connection).
    greeted: bool,
    current: Option<Received>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        if !std::mem::replace(&mut self.greeted, true) {
            self.sessions.fetch_add(1, Ordering::SeqCst);
        }
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.permanent.contains(to) {
            // Real servers often echo the address; rustig must not pass it on.
            Response::custom(550, format!("5.1.1 <{to}>: Recipient address rejected"))
        } else if self.transient.contains(to) {
            Response::custom(451, "4.7.1 Greylisted, try again later".into())
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.inbox.lock().unwrap().push(done);
        }
        response::OK
    }
}

/// Starts an SMTP server on a free port of 127.0.0.1 in a background thread.
pub fn start_server() -> (u16, Inbox) {
    let (port, inbox, _) = start_counting_server();
    (port, inbox)
}

/// Like `start_server`, also counting SMTP sessions.
pub fn start_counting_server() -> (u16, Inbox, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let sessions = Arc::new(AtomicUsize::new(0));
    let handler = Recorder {
        inbox: Arc::clone(&inbox),
        permanent: Arc::new([GONE.to_string()].into()),
        transient: Arc::new([BUSY.to_string()].into()),
        sessions: Arc::clone(&sessions),
        greeted: false,
        current: None,
    };
    let mut server = Server::new(handler);
    server
        .with_name("mx.test")
        .with_num_threads(8)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            panic!("SMTP test server stopped: {e}");
        }
    });
    (port, inbox, sessions)
}

impl Received {
    /// The value of a header (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        let mut lines = self.data.split("\r\n").peekable();
        while let Some(l) = lines.next() {
            if l.is_empty() {
                return None;
            }
            if l.to_ascii_lowercase().starts_with(&prefix) {
                let mut v = l[prefix.len()..].trim().to_string();
                while lines
                    .peek()
                    .is_some_and(|n| n.starts_with(' ') || n.starts_with('\t'))
                {
                    v.push(' ');
                    v.push_str(lines.next().unwrap().trim());
                }
                return Some(v);
            }
        }
        None
    }
}

/// Whether a local service a test needs (PostgreSQL, RabbitMQ, NATS, …) answers on `addr`.
/// With `CI=true` an unreachable service fails the test (`.ci/run` starts them all); without
/// CI the test may skip: it prints why, loudly, and the caller returns early.
pub fn service_available(name: &str, addr: &str) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let reachable = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok());
    if reachable {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not reachable at {addr} and CI=true: start it (.ci/run does) instead of skipping");
    }
    eprintln!(
        "\n========== SKIPPED: {name} is not reachable at {addr}; start it (see .ci/run) to run this test ==========\n"
    );
    false
}

/// A name no other test run uses: `prefix-<pid>-<nanos>-<n>`, safe for queues, streams and
/// subjects (no dots).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

// ---- PostgreSQL ------------------------------------------------------------------------------

/// The test database: `RUSTIG_TEST_POSTGRES`, else the local server with trust auth.
pub fn postgres_base_urls() -> Vec<String> {
    match std::env::var("RUSTIG_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => vec![url],
        _ => vec![
            "postgres://postgres@127.0.0.1:5432/test".into(),
            "postgres://root@127.0.0.1:5432/test".into(),
        ],
    }
}

/// A fresh schema of its own in the test database, dropped (with everything in it) on drop,
/// so tests run in parallel and leave nothing behind. `url` selects it via `search_path`.
pub struct PgSchema {
    pub base: String,
    pub schema: String,
    pub url: String,
}

/// A fresh schema, or `None` (after a loud message) when PostgreSQL is unreachable. With
/// `CI=true` an unreachable server fails the test instead: CI must not pass by skipping.
pub async fn postgres() -> Option<PgSchema> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut errors = vec![];
    for base in postgres_base_urls() {
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            <sqlx::PgConnection as sqlx::Connection>::connect(&base),
        )
        .await;
        match conn {
            Ok(Ok(mut c)) => {
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
                let _ = sqlx::Connection::close(c).await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options[search_path]={schema}");
                return Some(PgSchema { base, schema, url });
            }
            Ok(Err(e)) => errors.push(format!("{base}: {e}")),
            Err(_) => errors.push(format!("{base}: no answer within 10 s")),
        }
    }
    let why = errors.join("; ");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "PostgreSQL is unreachable and CI=true, so this test fails instead of skipping: {why}"
        );
    }
    eprintln!(
        "\n!!!!! SKIPPED: PostgreSQL is unreachable ({why}).\n!!!!! Start it (.ci/run does) or set \
         RUSTIG_TEST_POSTGRES; with CI=true this test fails.\n"
    );
    None
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime; a thread with its own runtime can block.
        let (base, schema) = (self.base.clone(), self.schema.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut c)
                    .await?;
                sqlx::Connection::close(c).await
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!(
                "warning: could not drop test schema {}: {done:?}",
                self.schema
            );
        }
    }
}

// ---- An SMTP server that can hold messages ---------------------------------------------------

/// Holds every message from the `after`-th one on at DATA, before the server has accepted any
/// of it, until [`Gate::open`]. A test can then kill the sender at a moment when none of its
/// messages is half delivered (sent by the client, not yet recorded as sent).
#[derive(Clone)]
pub struct Gate {
    after: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
    passed: Arc<AtomicUsize>,
    /// Recipients of the messages being held right now.
    held: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            after: Arc::new(AtomicUsize::new(usize::MAX)),
            started: Arc::default(),
            passed: Arc::default(),
            held: Arc::default(),
        }
    }
}

impl Gate {
    /// Lets `n` more messages through, then holds the rest.
    pub fn hold_after(&self, n: usize) {
        let started = self.started.load(Ordering::SeqCst);
        self.after.store(started + n, Ordering::SeqCst);
    }

    pub fn open(&self) {
        self.after.store(usize::MAX, Ordering::SeqCst);
    }

    /// Messages let through without holding them (they may still be receiving their data).
    pub fn passed(&self) -> usize {
        self.passed.load(Ordering::SeqCst)
    }

    /// The recipients of each message held right now.
    pub fn held(&self) -> Vec<Vec<String>> {
        self.held.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct GatedRecorder {
    inner: Recorder,
    gate: Gate,
}

impl Handler for GatedRecorder {
    fn helo(&mut self, ip: IpAddr, domain: &str) -> Response {
        self.inner.helo(ip, domain)
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.inner.rcpt(to)
    }

    fn data_start(&mut self, domain: &str, from: &str, is8bit: bool, to: &[String]) -> Response {
        let n = self.gate.started.fetch_add(1, Ordering::SeqCst);
        if n >= self.gate.after.load(Ordering::SeqCst) {
            self.gate.held.lock().unwrap().push(to.to_vec());
            while n >= self.gate.after.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.gate
                .held
                .lock()
                .unwrap()
                .retain(|t| t.as_slice() != to);
        } else {
            self.gate.passed.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.data_start(domain, from, is8bit, to)
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.data(buf)
    }

    fn data_end(&mut self) -> Response {
        self.inner.data_end()
    }
}

/// Like `start_server`, with a [`Gate`] that can hold messages.
pub fn start_gated_server(gate: &Gate) -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let handler = GatedRecorder {
        inner: Recorder {
            inbox: Arc::clone(&inbox),
            permanent: Arc::new([GONE.to_string()].into()),
            transient: Arc::new([BUSY.to_string()].into()),
            sessions: Arc::default(),
            greeted: false,
            current: None,
        },
        gate: gate.clone(),
    };
    let mut server = Server::new(handler);
    server
        .with_name("mx.test")
        .with_num_threads(16)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            panic!("SMTP test server stopped: {e}");
        }
    });
    (port, inbox)
}

/// A free TCP port on 127.0.0.1 (for a daemon's HTTP listener).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the `rustig` binary with `run --config CONFIG`.
pub fn start_daemon(config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUSTIG_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until a daemon answers `/healthz` on `http` (at most 30 s).
pub async fn wait_ready(http: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{http}/healthz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("rustig did not become ready");
}

// ---- A slow relay that records what each message carries ------------------------------------

/// A relay that records each message when its data ends and answers 250 only `delay` later
/// (settable while it runs): a sender killed while waiting has handed the message over, as
/// with a real relay that is slow to confirm.
#[derive(Clone)]
struct SlowRecorder {
    inner: Recorder,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Handler for SlowRecorder {
    fn helo(&mut self, ip: IpAddr, domain: &str) -> Response {
        self.inner.helo(ip, domain)
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.inner.rcpt(to)
    }

    fn data_start(&mut self, domain: &str, from: &str, is8bit: bool, to: &[String]) -> Response {
        self.inner.data_start(domain, from, is8bit, to)
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.data(buf)
    }

    fn data_end(&mut self) -> Response {
        let answer = self.inner.data_end();
        let ms = self.delay_ms.load(Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        answer
    }
}

/// A relay on a free port of 127.0.0.1 that answers 250 `delay_ms` after a message's data
/// (change it through the returned handle).
pub fn start_slow_server(delay_ms: u64) -> (u16, Inbox, Arc<std::sync::atomic::AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let delay = Arc::new(std::sync::atomic::AtomicU64::new(delay_ms));
    let handler = SlowRecorder {
        inner: Recorder {
            inbox: Arc::clone(&inbox),
            permanent: Arc::new([GONE.to_string()].into()),
            transient: Arc::new([BUSY.to_string()].into()),
            sessions: Arc::default(),
            greeted: false,
            current: None,
        },
        delay_ms: Arc::clone(&delay),
    };
    let mut server = Server::new(handler);
    server
        .with_name("mx.test")
        .with_num_threads(32)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            panic!("SMTP test server stopped: {e}");
        }
    });
    (port, inbox, delay)
}

impl Received {
    /// The idempotency key in `Message-ID: <key@rustig>`.
    pub fn key(&self) -> String {
        let id = self.header("Message-ID").expect("Message-ID");
        id.trim_start_matches('<')
            .split('@')
            .next()
            .unwrap()
            .to_string()
    }

    /// The event ids the message carries, from the `rustig-event:` lines that the templates
    /// in `tests/fixtures/outbox_templates` put in the text part (quoted-printable soft line
    /// breaks undone, should a line ever be long).
    pub fn events(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .data
            .replace("=\r\n", "")
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("rustig-event: "))
            .map(|id| id.trim().to_string())
            .collect();
        assert!(!ids.is_empty(), "no rustig-event line in {}", self.data);
        ids.sort();
        ids
    }
}

/// The templates that list each message's event ids (see [`Received::events`]).
pub fn outbox_templates() -> String {
    format!(
        "{}/tests/fixtures/outbox_templates",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Starts the `rustig` binary with `run --config CONFIG`, its warnings and errors on the
/// test's stderr prefixed with `name`.
pub fn start_named_daemon(config: &std::path::Path, name: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUSTIG_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let name = name.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[{name}] {line}");
        }
    });
    child
}

// ---- A daemon on a relay, for the crash tests ------------------------------------------------

/// Writes `NAME.toml` for a daemon on `store`, sending by SMTP to `smtp`, with every rule that
/// could hold a message back switched off (`extra` is appended: `[delivery]`, `[grades]`, …)
/// and the templates of [`outbox_templates`].
pub fn write_relay_config(
    dir: &std::path::Path,
    name: &str,
    store: &str,
    http: u16,
    smtp: u16,
    extra: &str,
) -> std::path::PathBuf {
    daemon::BaseConfig::new(dir)
        .store(store)
        .directory_in_tmp()
        .http(http)
        .smtp(smtp)
        .extra(&format!("[templates]\ndir = \"{}\"\n", outbox_templates()))
        .no_quiet_times()
        .extra(extra)
        .write_as(name)
}

/// A `grade.entered` event for `student`, record `r-{id}`, as one NDJSON line.
pub fn grade_line(id: &str, student: &str, occurred_at: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{occurred_at}","record":"r-{id}","student":"{student}","grade":{{"assessment":"a-{id}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,1","kind":"test"}}}}"#
    )
}

/// POSTs NDJSON to a daemon's ingest; the status, or `None` when it did not answer.
pub async fn post_events(client: &reqwest::Client, http: u16, body: String) -> Option<u16> {
    client
        .post(format!("http://127.0.0.1:{http}/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Kills a child with SIGKILL (no goodbye) and reaps it.
pub fn kill9(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}
