//! The base config the daemon tests share, and the `rustig run` child they start from it.
//!
//! [`BaseConfig`] writes the file most tests begin with (Amsterdam, a SQLite store in the
//! test's temp dir, the example directory, ingest on a port, the file transport into
//! `TMP/outbox` with the Coornhert from-address, `[schools.coornhert]`); a test changes the
//! parts it varies and appends its own tables with [`BaseConfig::extra`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The example directory in the repository.
pub fn example_directory() -> String {
    format!(
        "{}/config/directory.example.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The config text every daemon test starts from; see the module docs.
pub struct BaseConfig {
    tmp: PathBuf,
    store: String,
    directory: String,
    /// The body of `[ingest.http]`; `None` leaves the table out.
    ingest: Option<String>,
    email: String,
    extra: String,
}

impl BaseConfig {
    /// SQLite at `TMP/rustig.db`, the example directory, ingest on `127.0.0.1:0`, mail as
    /// files in `TMP/outbox`.
    pub fn new(tmp: &Path) -> BaseConfig {
        let t = tmp.display();
        BaseConfig {
            tmp: tmp.to_path_buf(),
            store: format!("sqlite://{t}/rustig.db"),
            directory: format!("file = \"{}\"", example_directory()),
            ingest: Some("listen = \"127.0.0.1:0\"".into()),
            email: format!("transport = \"file\"\ndir = \"{t}/outbox\""),
            extra: String::new(),
        }
    }

    /// `[store] url`.
    pub fn store(mut self, url: &str) -> Self {
        self.store = url.into();
        self
    }

    /// The body of `[directory]` (default: `file =` the example directory).
    pub fn directory(mut self, body: &str) -> Self {
        self.directory = body.into();
        self
    }

    /// `[directory] file = "TMP/directory.json"`.
    pub fn directory_in_tmp(self) -> Self {
        let body = format!("file = \"{}/directory.json\"", self.tmp.display());
        self.directory(&body)
    }

    /// Ingest listens on `127.0.0.1:PORT`.
    pub fn http(self, port: u16) -> Self {
        self.ingest(&format!("listen = \"127.0.0.1:{port}\""))
    }

    /// The body of `[ingest.http]` (default: `listen = "127.0.0.1:0"`).
    pub fn ingest(mut self, body: &str) -> Self {
        self.ingest = Some(body.into());
        self
    }

    /// No `[ingest.http]` table (the test's `extra` brings its own ingest).
    pub fn without_http_ingest(mut self) -> Self {
        self.ingest = None;
        self
    }

    /// Mail by SMTP to `127.0.0.1:PORT` instead of files.
    pub fn smtp(mut self, port: u16) -> Self {
        self.email = format!("transport = \"smtp\"\nurl = \"smtp://127.0.0.1:{port}\"");
        self
    }

    /// The body of `[email]` before its `from` (default: the file transport into `TMP/outbox`).
    pub fn email(mut self, body: &str) -> Self {
        self.email = body.into();
        self
    }

    /// `[quiet_hours]` and `[weekend]` switched off: nothing waits for a quiet time.
    pub fn no_quiet_times(self) -> Self {
        self.extra("[quiet_hours]\nenabled = false\n[weekend]\nenabled = false\n")
    }

    /// Text appended after `[schools.coornhert]` (start it with a table header).
    pub fn extra(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self
    }

    /// The TOML text.
    pub fn text(&self) -> String {
        format!(
            r#"timezone = "Europe/Amsterdam"
[store]
url = "{store}"
[directory]
{directory}
{ingest}[email]
{email}
from = "Coornhert Lyceum <noreply@coornhert.example>"
[schools.coornhert]
name = "Coornhert Lyceum"
{extra}"#,
            store = self.store,
            directory = self.directory,
            ingest = match &self.ingest {
                Some(body) => format!("[ingest.http]\n{body}\n"),
                None => String::new(),
            },
            email = self.email,
            extra = self.extra,
        )
    }

    /// Writes `TMP/rustig.toml`; its path.
    pub fn write(&self) -> PathBuf {
        self.write_as("rustig")
    }

    /// Writes `TMP/NAME.toml`; its path.
    pub fn write_as(&self, name: &str) -> PathBuf {
        let path = self.tmp.join(format!("{name}.toml"));
        std::fs::write(&path, self.text()).unwrap();
        path
    }

    /// The config parsed, for `rustig::daemon::start` in the test's own process.
    pub fn parse(&self) -> rustig::config::Config {
        rustig::config::Config::parse(Path::new("test.toml"), &self.text()).unwrap()
    }
}

/// POSTs NDJSON to the ingest of a daemon on `127.0.0.1:HTTP`; the response (panics when the
/// daemon does not answer).
pub async fn post_ndjson(http: u16, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// GETs `url` with a bearer token; the body as JSON.
pub async fn get_json(url: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `rustig status --config CONFIG`, run to its end.
pub fn rustig_status(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["status", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

/// Waits until an in-process daemon's dispatcher has handled everything due at the clock's
/// time.
pub async fn quiesce(d: &rustig::daemon::Running, clock: &rustig::clock::ManualClock) {
    use rustig::clock::Clock;
    for _ in 0..500 {
        // In this order: a claim made between the two reads shows up in the counts.
        let next = d.store.next_due().await.unwrap();
        let counts = d.store.counts().await.unwrap();
        if counts.claimed == 0 && next.is_none_or(|n| n > clock.now()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the dispatcher did not catch up with the clock");
}

/// A child process killed with SIGKILL (and reaped) on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `rustig run` child: SIGTERM (then reaped) on drop or [`Daemon::stop`].
pub struct Daemon(Option<Child>);

impl Daemon {
    /// `rustig run --config CONFIG` at `RUSTIG_LOG=level` (plain format), stderr into the
    /// file `stderr`.
    pub fn logging_to(config: &Path, level: &str, stderr: &Path) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_rustig"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUSTIG_LOG", level)
            .env_remove("RUSTIG_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        Daemon(Some(child))
    }

    /// The child's process id (for signals such as SIGHUP).
    pub fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Ends the daemon with SIGTERM and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.0.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}
