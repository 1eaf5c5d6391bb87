//! Metrics and health of the real `rustig` process: `GET /metrics` scraped and parsed with a
//! Prometheus text parser before and after ingest and a release (counters equal to what
//! happened, monotone, nothing personal in a label); `/readyz` 503 naming a NATS source whose
//! server went away, and while a private PostgreSQL is stopped, 200 once it is back; the
//! shipped alert rules through `promtool`, and every metric name the dashboard and the rules
//! use is one rustig exports.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{post_ndjson, BaseConfig, Killed};
use prometheus_parse::{Scrape, Value};

const READ: &str = "read-token-0123456789abcdef";
const OPERATE: &str = "operate-token-0123456789abcdef";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

async fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A NATS server with JetStream of this test's own, on a free port (the shared one is never
/// stopped). `None` outside CI when nats-server is not installed.
async fn private_nats(dir: &Path) -> Option<(Killed, u16)> {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(bin) = bin else {
        assert!(!ci(), "nats-server is not installed (.ci/run installs it)");
        eprintln!("skipped: nats-server is not installed");
        return None;
    };
    let port = common::free_port();
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    wait_port(port, "nats-server").await;
    Some((child, port))
}

fn write_tokens(dir: &Path) -> String {
    std::fs::write(dir.join("read.token"), format!("{READ}\n")).unwrap();
    std::fs::write(dir.join("operate.token"), format!("ops {OPERATE}\n")).unwrap();
    format!(
        "read_token_file = \"{d}/read.token\"\noperate_token_file = \"{d}/operate.token\"\n",
        d = dir.display()
    )
}

fn write_config(tmp: &Path, store: &str, http: u16, admin: u16, extra: &str) -> PathBuf {
    BaseConfig::new(tmp)
        .store(store)
        .http(http)
        .extra(&format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n{tokens}{extra}",
            tokens = write_tokens(tmp)
        ))
        .write()
}

struct Admin {
    port: u16,
    client: reqwest::Client,
}

impl Admin {
    fn new(port: u16) -> Admin {
        Admin {
            port,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Option<(u16, String)> {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.unwrap()))
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let (status, text) = self.get(path, Some(READ)).await.unwrap();
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn scrape(&self) -> Scrape {
        let r = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        let text = r.text().await.unwrap();
        if std::env::var_os("RUSTIG_SHOW_SCRAPE").is_some() {
            eprintln!("{text}");
        }
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
    }

    /// Waits until `/readyz` answers `status`; returns its body.
    async fn readyz(&self, status: u16, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let got = self.get("/readyz", None).await;
            if let Some((s, text)) = &got {
                if *s == status {
                    return serde_json::from_str(text).unwrap();
                }
            }
            assert!(
                Instant::now() < deadline,
                "/readyz did not answer {status}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The value of the sample `name` whose labels include `labels`, summed over the others
/// (counters and gauges; a histogram's count).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => panic!("{name} is a summary"),
        })
        .sum()
}

/// Metric names of a scrape, with a histogram's `_bucket`, `_sum` and `_count` series.
fn names(s: &Scrape) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for x in &s.samples {
        out.insert(x.metric.clone());
        if matches!(x.value, Value::Histogram(_)) {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{}{suffix}", x.metric));
            }
        }
    }
    out
}

/// Every `rustig_…` name in a text.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("rustig_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The PromQL of the dashboard (every `expr` and template query) and of the alert rules.
fn shipped_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/rustig.json")).unwrap(),
    )
    .unwrap();
    fn walk(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query" | "definition", serde_json::Value::String(s)) => {
                            out.push(("deploy/grafana/rustig.json".into(), s.clone()))
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut out);
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("deploy/prometheus/rustig-alerts.yml")).unwrap(),
    )
    .unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            out.push((
                "deploy/prometheus/rustig-alerts.yml".into(),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// Every id of the fixture directory that must never be a label value.
fn personal_values() -> BTreeSet<String> {
    let dir: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("config/directory.example.json")).unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for s in dir["students"].as_array().unwrap() {
        out.insert(s["id"].as_str().unwrap().to_string());
        out.insert(s["name"].as_str().unwrap().to_string());
        for g in s["guardians"].as_array().into_iter().flatten() {
            out.insert(g["id"].as_str().unwrap().to_string());
            out.insert(g["name"].as_str().unwrap().to_string());
        }
        let text = s.to_string();
        for email in text.split('"').filter(|t| t.contains('@')) {
            out.insert(email.to_string());
        }
    }
    out
}

/// A grade that occurred at the start of this process (the same content when sent again).
fn grade(id: &str, student: &str, value: &str) -> String {
    static AT: std::sync::LazyLock<chrono::DateTime<chrono::Utc>> =
        std::sync::LazyLock::new(|| chrono::Utc::now() - chrono::Duration::minutes(5));
    let now = *AT;
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{}","record":"r-{id}","student":"{student}","grade":{{"assessment":"a-{id}","subject":"wiskunde","class":"3c","description":"Toets","value":"{value}","kind":"test"}}}}"#,
        now.to_rfc3339()
    )
}

async fn post(http: u16, body: String) -> serde_json::Value {
    post_ndjson(http, body).await.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_and_readyz_names_a_lost_source() {
    let tmp = tempfile::tempdir().unwrap();
    let nats_dir = tmp.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let Some((nats, nats_port)) = private_nats(&nats_dir).await else {
        return;
    };
    let stream = common::unique_name("METRICS");
    let subject = format!("{}.events", stream.to_lowercase());
    let (http, admin) = (common::free_port(), common::free_port());
    let store = format!("sqlite://{}/rustig.db", tmp.path().display());
    let nats_table = format!(
        "[[ingest.nats]]\nurl = \"nats://127.0.0.1:{nats_port}\"\nstream = \"{stream}\"\n\
         subject = \"{subject}\"\ndurable = \"rustig\"\ncreate = true\n"
    );
    let config = write_config(tmp.path(), &store, http, admin, &nats_table);
    let _daemon = Killed(common::start_daemon(&config));
    let a = Admin::new(admin);
    let ready = a.readyz(200, Duration::from_secs(30)).await;
    assert_eq!(ready["ready"], true, "{ready}");

    // The read token is needed; probes are not.
    let (status, _) = a.get("/metrics", None).await.unwrap();
    assert_eq!(status, 401);
    let (status, _) = a
        .get("/metrics", Some("wrong-token-0123456789abcdef"))
        .await
        .unwrap();
    assert_eq!(status, 401);
    let spec = a.json("/v1/openapi.json").await;
    assert!(
        spec["paths"]["/metrics"]["get"]["security"].is_array(),
        "{spec}"
    );

    let before = a.scrape().await;
    assert_eq!(value(&before, "rustig_store_up", &[]), 1.0);
    assert_eq!(
        value(
            &before,
            "rustig_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // Over HTTP: two new grades and a malformed line; then the first again (a duplicate)
    // and the second with other content (a conflict).
    let out = post(
        http,
        [
            grade("m-1", "s-1001", "7,1"),
            grade("m-2", "s-1003", "5,5"),
            r#"{"id":"m-bad","type":"grade.entered"}"#.to_string(),
            r#"{"id":"m-worse","type":"s-1001"}"#.to_string(),
        ]
        .join("\n"),
    )
    .await;
    assert_eq!(
        (&out["accepted"], &out["rejected"]),
        (&2.into(), &2.into()),
        "{out}"
    );
    let out = post(http, grade("m-1", "s-1001", "7,1")).await;
    assert_eq!(out["duplicates"], 1, "{out}");
    let out = post(http, grade("m-2", "s-1003", "9,0")).await;
    assert_eq!(out["conflicts"], 1, "{out}");
    // Over NATS: one more.
    let client = async_nats::connect(format!("nats://127.0.0.1:{nats_port}"))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish(subject.clone(), grade("m-3", "s-1002", "8,0").into())
        .await
        .unwrap()
        .await
        .unwrap();

    // Wait until the NATS event is planned, then release everything pending now.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = loop {
        let page = a.json("/v1/notices?state=pending&limit=1000").await;
        let items = page["items"].as_array().unwrap().clone();
        if items.iter().any(|n| n["event"] == "m-3") {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "the NATS event was not planned: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let planned = pending.len();
    assert!(planned >= 3, "{pending:?}");
    let ops = reqwest::Client::new();
    for n in &pending {
        let r = ops
            .post(a.url(&format!(
                "/v1/notices/{}/release?override_blackout=true",
                n["id"]
            )))
            .bearer_auth(OPERATE)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = a.json("/v1/notices?state=sent&limit=1000").await;
        if page["items"].as_array().unwrap().len() == planned {
            break;
        }
        assert!(Instant::now() < deadline, "not everything was sent: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let messages = std::fs::read_dir(tmp.path().join("outbox"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert!(messages >= 1);

    // Lag is asked for every few seconds: wait for the NATS source's.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let s = a.scrape().await;
        if names(&s).contains("rustig_source_lag_messages") {
            break s;
        }
        assert!(Instant::now() < deadline, "no source lag reported");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let http_ev = |outcome: &str, kind: &str| {
        value(
            &after,
            "rustig_events_total",
            &[("source", "http"), ("outcome", outcome), ("type", kind)],
        )
    };
    assert_eq!(http_ev("new", "grade.entered"), 2.0);
    assert_eq!(http_ev("duplicate", "grade.entered"), 1.0);
    assert_eq!(http_ev("conflict", "grade.entered"), 1.0);
    assert_eq!(http_ev("rejected", "grade.entered"), 1.0);
    // A type that is no event type is not a label value.
    assert_eq!(http_ev("rejected", "invalid"), 1.0);
    let nats_label = format!("nats:{stream}");
    assert_eq!(
        value(
            &after,
            "rustig_events_total",
            &[("source", &nats_label), ("outcome", "new")]
        ),
        1.0
    );
    let q = |kind| {
        value(
            &after,
            "rustig_events_quarantined_total",
            &[("source", "http"), ("kind", kind)],
        )
    };
    assert_eq!((q("rejected"), q("conflict")), (2.0, 1.0));
    assert_eq!(
        value(&after, "rustig_notices_planned_total", &[]),
        planned as f64
    );
    assert_eq!(
        value(
            &after,
            "rustig_messages_sent_total",
            &[("channel", "email")]
        ) - value(
            &before,
            "rustig_messages_sent_total",
            &[("channel", "email")]
        ),
        messages as f64
    );
    assert_eq!(value(&after, "rustig_send_failures_total", &[]), 0.0);
    assert_eq!(value(&after, "rustig_messages_dead_total", &[]), 0.0);
    assert_eq!(
        value(
            &after,
            "rustig_release_lateness_seconds",
            &[("channel", "email")]
        ),
        messages as f64
    );
    assert_eq!(
        value(
            &after,
            "rustig_send_duration_seconds",
            &[("channel", "email")]
        ),
        messages as f64
    );
    assert!(value(&after, "rustig_claim_batch_notices", &[]) >= 1.0);
    let notices = |state| {
        value(
            &after,
            "rustig_notices",
            &[("school", "coornhert"), ("state", state)],
        )
    };
    assert_eq!((notices("sent"), notices("pending")), (planned as f64, 0.0));
    assert_eq!(
        value(
            &after,
            "rustig_oldest_pending_overdue_seconds",
            &[("school", "coornhert")]
        ),
        0.0
    );
    assert_eq!(value(&after, "rustig_store_up", &[]), 1.0);
    let connected: Vec<f64> = after
        .samples
        .iter()
        .filter(|x| x.metric == "rustig_source_connected")
        .map(|x| match x.value {
            Value::Gauge(v) => v,
            _ => panic!("not a gauge"),
        })
        .collect();
    assert_eq!(connected, [1.0, 1.0], "the HTTP and the NATS source");

    // Counters only grow.
    let later: HashMap<(String, String), f64> = after
        .samples
        .iter()
        .filter_map(|x| match x.value {
            Value::Counter(v) => Some(((x.metric.clone(), format!("{:?}", sorted(&x.labels))), v)),
            _ => None,
        })
        .collect();
    for x in &before.samples {
        if let Value::Counter(v) = x.value {
            let key = (x.metric.clone(), format!("{:?}", sorted(&x.labels)));
            let now = later.get(&key).copied();
            assert!(now.is_some_and(|n| n >= v), "{key:?}: {v} then {now:?}");
        }
    }

    // Nothing personal, no event ids, in any label.
    let mut personal = personal_values();
    personal.extend(["m-1", "m-2", "m-3", "m-bad", "m-worse", "r-m-1"].map(String::from));
    for x in &after.samples {
        for (k, v) in x.labels.iter() {
            assert!(!personal.contains(v), "{}: label {k}={v}", x.metric);
        }
    }

    // Every metric the dashboard and the alert rules use is exported.
    let exported = names(&after);
    for (file, query) in shipped_queries() {
        for name in metric_names_in(&query) {
            // Only counted when a full quarantine refuses a batch (tests/ingest_hardening.rs).
            if name == "rustig_ingest_refused_total" {
                assert!(rustig::observe::metrics::ALL.contains(&name.as_str()));
                continue;
            }
            assert!(
                exported.contains(&name),
                "{file}: {name} is not exported; exported: {exported:?}"
            );
        }
    }

    // The NATS server goes away: not ready, naming the source.
    drop(nats);
    let body = a.readyz(503, Duration::from_secs(30)).await;
    assert_eq!(body["ready"], false);
    let reasons = body["reasons"].to_string();
    assert!(
        reasons.contains("source nats") && reasons.contains(&stream),
        "{body}"
    );
    assert!(!reasons.contains("store"), "{body}");
    let s = a.scrape().await;
    assert_eq!(
        value(&s, "rustig_source_connected", &[]),
        1.0,
        "only HTTP is connected"
    );
}

fn sorted(labels: &prometheus_parse::Labels) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort();
    v
}

/// A PostgreSQL cluster of this test's own on a free port: the shared one is never stopped.
struct PrivatePg {
    data: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    _tmp: tempfile::TempDir,
}

impl PrivatePg {
    fn find_bin() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            // initdb refuses to run as root.
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn init() -> Option<PrivatePg> {
        let Some(bin) = PrivatePg::find_bin() else {
            assert!(
                !ci(),
                "PostgreSQL's initdb is not installed (.ci/run installs it)"
            );
            eprintln!("skipped: no /usr/lib/postgresql/*/bin/initdb");
            return None;
        };
        let root = unsafe_is_root();
        let tmp = tempfile::tempdir().unwrap();
        if root {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(tmp.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster's directory to postgres");
        }
        let pg = PrivatePg {
            data: tmp.path().join("data"),
            port: common::free_port(),
            bin,
            as_postgres: root,
            _tmp: tmp,
        };
        let out = pg
            .cmd("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "rustig",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&pg.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.data.parent().unwrap().join("log"))
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }

    fn url(&self) -> String {
        format!("postgres://rustig@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_postgresql_is_stopped_and_200_after() {
    let Some(pg) = PrivatePg::init() else {
        return;
    };
    pg.start();
    let tmp = tempfile::tempdir().unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let config = write_config(tmp.path(), &pg.url(), http, admin, "");
    let _daemon = Killed(common::start_daemon(&config));
    let a = Admin::new(admin);
    let body = a.readyz(200, Duration::from_secs(60)).await;
    assert_eq!(body["reasons"], serde_json::json!([]), "{body}");

    pg.stop();
    let body = a.readyz(503, Duration::from_secs(30)).await;
    assert_eq!(body["ready"], false);
    let reasons = body["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("store: ")),
        "{body}"
    );
    assert!(!body.to_string().contains("source"), "{body}");
    let s = a.scrape().await;
    assert_eq!(value(&s, "rustig_store_up", &[]), 0.0);

    pg.start();
    let body = a.readyz(200, Duration::from_secs(60)).await;
    assert_eq!(body["ready"], true, "{body}");
    let s = a.scrape().await;
    assert_eq!(value(&s, "rustig_store_up", &[]), 1.0);
}

/// `promtool` from Debian's `prometheus` package; under CI it must be there.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !ci(),
            "promtool is not installed (.ci/run installs Debian's prometheus)"
        );
        eprintln!("skipped: promtool is not installed");
        return None;
    }
    Some("promtool")
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = repo().join("deploy/prometheus");
    for args in [
        ["check", "rules", "rustig-alerts.yml"],
        ["test", "rules", "rustig-alerts.test.yml"],
    ] {
        let out = Command::new(promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_dashboard_and_rules_name_only_metrics_of_the_metrics_module() {
    let known = rustig::observe::metrics::ALL;
    let mut used = BTreeSet::new();
    for (file, query) in shipped_queries() {
        for name in metric_names_in(&query) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| known.contains(b)))
                .unwrap_or(&name)
                .to_string();
            assert!(known.contains(&base.as_str()), "{file}: {name}");
            used.insert(base);
        }
    }
    // The panels the operators asked for are there.
    for name in [
        "rustig_notices",
        "rustig_release_lateness_seconds",
        "rustig_send_failures_total",
        "rustig_events_total",
        "rustig_source_connected",
        "rustig_store_up",
        "rustig_messages_dead_total",
        "rustig_oldest_pending_overdue_seconds",
    ] {
        assert!(used.contains(name), "{name} is in no panel or rule");
    }
}

#[test]
fn the_readme_lists_every_metric() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for name in rustig::observe::metrics::ALL {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README.md: {name}"
        );
    }
}

/// `/readyz`'s store check in process: a migration the database lacks is named, and a
/// source that is not connected is named too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_names_a_missing_migration_and_a_disconnected_source() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rustig.db", tmp.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let config = rustig::config::Config::parse(
        Path::new("rustig.toml"),
        "timezone = \"Europe/Amsterdam\"\n[schools.coornhert]\n",
    )
    .unwrap();
    let shared = rustig::shared::Shared::new(config, Default::default());
    let clock: std::sync::Arc<dyn rustig::clock::Clock> =
        std::sync::Arc::new(rustig::clock::SystemClock);
    let source = rustig::source::health::SourceHealth::new("nats SIS/rustig");
    source.set_connected(true);
    let state = rustig::admin::AdminState::new(store.clone(), shared, clock)
        .with_sources(vec![source.clone()]);
    assert_eq!(
        rustig::admin::health::not_ready(&state).await,
        Vec::<String>::new()
    );

    // As if an older build had migrated the database (or another is migrating it now).
    let latest: i64 = {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let v = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
            .bind(v)
            .execute(&pool)
            .await
            .unwrap();
        v
    };
    source.set_connected(false);
    assert_eq!(
        rustig::admin::health::not_ready(&state).await,
        [
            format!("store: migrations not applied: {latest}"),
            "source nats SIS/rustig: not connected".to_string()
        ]
    );
}
