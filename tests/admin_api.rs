//! The admin API of the real `rustig` process: its own listener, tokens of two levels from
//! files, probes without a token, the OpenAPI document, and the refusal to listen beyond
//! loopback without tokens.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const READ: &str = "read-token-0123456789abcdef";
const OPERATE: &str = "operate-token-0123456789abcdef";

/// A daemon on its own ports and store; killed on drop.
struct Daemon {
    child: std::process::Child,
    admin: u16,
    http: u16,
    _tmp: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(tmp: &Path, http: u16, admin_table: &str) -> PathBuf {
    let repo = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[directory]
file = "{repo}/config/directory.example.json"
[ingest.http]
listen = "127.0.0.1:{http}"
[email]
transport = "file"
dir = "{tmp}/outbox"
from = "Coornhert Lyceum <noreply@coornhert.example>"
{admin_table}
[schools.coornhert]
name = "Coornhert Lyceum"
"#,
        tmp = tmp.display()
    );
    let path = tmp.join("rustig.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn start() -> Daemon {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("read.token"), format!("{READ}\n")).unwrap();
    std::fs::write(
        tmp.path().join("operate.token"),
        format!("# operators\nmarit {OPERATE}\n"),
    )
    .unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let table = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\nread_token_file = \"{t}/read.token\"\n\
         operate_token_file = \"{t}/operate.token\"\n",
        t = tmp.path().display()
    );
    let config = write_config(tmp.path(), http, &table);
    let child = common::start_daemon(&config);
    let d = Daemon {
        child,
        admin,
        http,
        _tmp: tmp,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(d.url("/healthz")).await {
            if r.status().is_success() {
                return d;
            }
        }
        assert!(Instant::now() < deadline, "the admin API did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Daemon {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new().get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(text.into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_without_a_token_and_everything_else_needs_one() {
    let d = start().await;
    assert_ne!(d.admin, d.http);
    // The ingest listener does not serve the admin API.
    let r = reqwest::get(format!("http://127.0.0.1:{}/v1/openapi.json", d.http))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    assert_eq!(d.get("/healthz", None).await.0, 200);
    let (status, body) = d.get("/readyz", None).await;
    assert_eq!((status, &body["ready"]), (200, &serde_json::json!(true)));

    for token in [None, Some("wrong-token-0123456789abcdef"), Some(&READ[1..])] {
        let (status, body) = d.get("/v1/openapi.json", token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("bearer token"));
    }
    let r = reqwest::get(d.url("/v1/openapi.json")).await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    for token in [READ, OPERATE] {
        let (status, spec) = d.get("/v1/openapi.json", Some(token)).await;
        assert_eq!(status, 200);
        assert_eq!(spec["openapi"], "3.1.0");
        assert!(spec["paths"]["/readyz"]["get"].is_object(), "{spec}");
        assert!(spec["paths"]["/v1/openapi.json"]["get"]["security"].is_array());
    }
}

#[test]
fn an_admin_listener_beyond_loopback_without_tokens_stops_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let http = common::free_port();
    let config = write_config(tmp.path(), http, "[admin]\nlisten = \"0.0.0.0:0\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.listen = \"0.0.0.0:0\": listening beyond loopback needs"),
        "{err}"
    );
}

#[test]
fn a_bad_token_file_stops_the_start_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ops"), "jan short\n").unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let table = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\noperate_token_file = \"{}/ops\"\n",
        tmp.path().display()
    );
    let config = write_config(tmp.path(), http, &table);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/ops, line 1: a token must be at least 16 characters"),
        "{err}"
    );
    assert!(!err.contains("short"), "the token is not repeated: {err}");
}
