//! The admin API of the real `rustig` process: its own listener, tokens of two levels from
//! files, probes without a token, the OpenAPI document, and the refusal to listen beyond
//! loopback without tokens.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::{rustig_status, BaseConfig, Killed};

const READ: &str = "read-token-0123456789abcdef";
const OPERATE: &str = "operate-token-0123456789abcdef";

/// A daemon on its own ports and store; killed on drop.
struct Daemon {
    _child: Killed,
    admin: u16,
    http: u16,
    _tmp: tempfile::TempDir,
}

fn write_config(tmp: &Path, http: u16, admin_table: &str) -> PathBuf {
    BaseConfig::new(tmp).http(http).extra(admin_table).write()
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
        _child: Killed(child),
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

// ---- Views and actions over a scripted scenario -----------------------------------------------

/// Two schools: `alpha` in a holiday (everything waits), `beta` without quiet times (a
/// student's notice goes at once; to `common::GONE` it is refused and dead).
fn scenario_config(tmp: &Path, http: u16, admin: u16, smtp: u16, extra: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    let (from, until) = (today - chrono::Days::new(1), today + chrono::Days::new(60));
    format!(
        r#"timezone = "Europe/Amsterdam"
[store]
url = "sqlite://{tmp}/rustig.db"
[ingest.http]
listen = "127.0.0.1:{http}"
[admin]
listen = "127.0.0.1:{admin}"
read_token_file = "{tmp}/read.token"
operate_token_file = "{tmp}/operate.token"
[email]
transport = "smtp"
url = "smtp://127.0.0.1:{smtp}"
from = "School <noreply@school.example>"
[delivery]
retry_base = "1s"
[grades]
classroom_first = "off"
[schools.alpha]
name = "Alpha College"
[schools.alpha.holidays]
dates = ["{from}..{until}"]
[schools.beta]
name = "Beta Lyceum"
[schools.beta.quiet_hours]
enabled = false
[schools.beta.weekend]
enabled = false
{extra}"#,
        tmp = tmp.display()
    )
}

const DIRECTORY: &str = r#"{"students": [
  {"id": "a-1", "school": "alpha", "name": "Ada", "birth_date": "2011-03-14", "class": "3c",
   "locale": "nl", "contacts": [{"email": "ada@example.nl"}],
   "guardians": [{"id": "ga-1", "name": "Gert", "locale": "nl",
                  "contacts": [{"email": "gert@example.nl"}]}]},
  {"id": "b-1", "school": "beta", "name": "Bo", "birth_date": "2011-05-01", "class": "2b",
   "locale": "en", "contacts": [{"email": "gone@example.nl"}],
   "guardians": [{"id": "gb-1", "name": "Bea", "locale": "en",
                  "contacts": [{"email": "bea@example.nl"}]}]}
]}"#;

fn grade(id: &str, school: &str, record: &str, student: &str, occurred: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"{school}","occurred_at":"{occurred}","record":"{record}","student":"{student}","grade":{{"assessment":"t-{record}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,1","kind":"test"}}}}"#
    )
}

fn now_rfc3339(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Daemon {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(text.into()))
    }

    async fn post(&self, path: &str, body: Option<String>) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, Some(OPERATE), body)
            .await
    }

    async fn ingest(&self, ndjson: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/v1/events", self.http))
            .header("content-type", "application/x-ndjson")
            .body(ndjson.to_string())
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    fn dir(&self) -> &Path {
        self._tmp.path()
    }

    /// Waits until `GET path` (read token) satisfies `cond`.
    async fn wait_for(
        &self,
        what: &str,
        path: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let req = reqwest::Client::new().get(self.url(path)).bearer_auth(READ);
            let body = match req.send().await {
                Ok(r) if r.status() == 200 => r.json().await.unwrap(),
                Ok(r) => serde_json::Value::from(r.status().as_u16()),
                // Not listening yet.
                Err(e) => serde_json::Value::from(e.to_string()),
            };
            if body.is_object() && cond(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn start_scenario(smtp: u16, extra: &str) -> Daemon {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("read.token"), format!("{READ}\n")).unwrap();
    std::fs::write(
        tmp.path().join("operate.token"),
        format!("marit {OPERATE}\n"),
    )
    .unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let config = tmp.path().join("rustig.toml");
    std::fs::write(
        &config,
        scenario_config(tmp.path(), http, admin, smtp, extra),
    )
    .unwrap();
    let child = common::start_daemon(&config);
    let d = Daemon {
        _child: Killed(child),
        admin,
        http,
        _tmp: tmp,
    };
    d.wait_for("the admin API", "/v1/status", |_| true).await;
    d
}

fn items(page: &serde_json::Value) -> &Vec<serde_json::Value> {
    page["items"].as_array().unwrap()
}

async fn store_counts(tmp: &Path) -> Vec<(String, String, i64)> {
    let url = format!("sqlite://{}/rustig.db?mode=ro", tmp.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query_as("SELECT school, state, COUNT(*) FROM notices GROUP BY school, state")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_actions_answer_what_waits_what_failed_and_leave_an_audit_trail() {
    let (smtp, inbox) = common::start_server();
    let d = start_scenario(smtp, "").await;

    // The directory over the API: checked like `import-directory`, a read token may not.
    let put = |token: &'static str, body: &str| {
        d.send(
            reqwest::Method::PUT,
            "/v1/directory",
            Some(token),
            Some(body.to_string()),
        )
    };
    assert_eq!(put(READ, DIRECTORY).await.0, 403);
    let (status, body) = put(OPERATE, r#"{"students":[{"id":"x"}]}"#).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = put(OPERATE, DIRECTORY).await;
    assert_eq!(
        (status, &body["students"]),
        (200, &serde_json::json!(2)),
        "{body}"
    );

    // Events: a grade and its correction (alpha: held by the holiday), one for a student the
    // directory does not know, a grade in beta (to a gone address: dead), and two inputs
    // that end in quarantine (broken; an unknown school).
    let lines = [
        grade("e-1", "alpha", "r-1", "a-1", &now_rfc3339(-60)),
        grade("e-2", "alpha", "r-1", "a-1", &now_rfc3339(-30)),
        grade("e-x", "alpha", "r-x", "x-9", &now_rfc3339(-30)),
        grade("e-b", "beta", "r-b", "b-1", &now_rfc3339(-30)),
        r#"{"id":"e-broken","type":"grade.entered"}"#.to_string(),
        grade("e-g", "gamma", "r-g", "g-1", &now_rfc3339(-30)),
    ];
    let r = d.ingest(&(lines.join("\n") + "\n")).await;
    assert_eq!(
        (&r["accepted"], &r["rejected"]),
        (&4.into(), &2.into()),
        "{r}"
    );

    let dead = d
        .wait_for("a dead notice", "/v1/dead", |p| items(p).len() == 1)
        .await;
    let dead = &items(&dead)[0];
    assert_eq!(
        (&dead["recipient"], &dead["school"]),
        (&"b-1".into(), &"beta".into())
    );
    assert!(
        dead["last_error"].as_str().unwrap().contains("550"),
        "{dead}"
    );

    // Status: the store's counts, the next release in local time with what it holds.
    let (_, status) = d.get("/v1/status", Some(READ)).await;
    let schools = status["schools"].as_array().unwrap();
    for (school, state, n) in store_counts(d.dir()).await {
        let s = schools
            .iter()
            .find(|s| s["school"] == school.as_str())
            .unwrap();
        assert_eq!(s[state.as_str()], n, "{school} {state}: {status}");
    }
    let alpha = schools.iter().find(|s| s["school"] == "alpha").unwrap();
    assert_eq!(
        (&alpha["pending"], &alpha["name"]),
        (&2.into(), &"Alpha College".into())
    );
    let release = &alpha["next_release"];
    assert!(
        release["at"].as_str().unwrap().ends_with(":00+01:00")
            || release["at"].as_str().unwrap().ends_with(":00+02:00"),
        "{release}"
    );
    assert_eq!(release["notices"], 1, "{release}");
    assert_eq!(status["store"]["connected"], true);
    assert_eq!(status["quarantined"], 2);
    assert_eq!(status["sources"][0]["connected"], true);
    assert!(status["config"]["sha256"].as_str().unwrap().len() == 64);

    // Events: superseded, planned, unresolved; `explain --event-id` says the same.
    let (_, e1) = d.get("/v1/events/e-1", Some(READ)).await;
    assert_eq!(
        (&e1["state"], &e1["superseded_by"]),
        (&"superseded".into(), &"e-2".into()),
        "{e1}"
    );
    let (_, e2) = d.get("/v1/events/e-2", Some(READ)).await;
    assert_eq!(e2["state"], "planned");
    assert_eq!(e2["notices"].as_array().unwrap().len(), 2, "{e2}");
    let (_, ex) = d.get("/v1/events/e-x", Some(READ)).await;
    assert_eq!(ex["state"], "unresolved", "{ex}");
    assert_eq!(d.get("/v1/events/nope", Some(READ)).await.0, 404);
    let config = d.dir().join("rustig.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["explain", "--config"])
        .arg(&config)
        .args(["--event-id", "e-1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("superseded by e-2"), "{text}");
    assert_eq!(text, e1["text"].as_str().unwrap());

    // `rustig status` from the store, without the daemon's help.
    let out = rustig_status(&config);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Alpha College (alpha), Europe/Amsterdam"),
        "{text}"
    );
    assert!(
        text.contains("pending 2 · claimed 0 · sent 0 · dead 0"),
        "{text}"
    );
    assert!(text.contains("quarantined: 2"), "{text}");

    // The timeline of a student: notices to them and to their guardians.
    let (_, timeline) = d.get("/v1/students/a-1/timeline", Some(READ)).await;
    let recipients: Vec<&str> = items(&timeline)
        .iter()
        .map(|n| n["recipient"].as_str().unwrap())
        .collect();
    assert!(
        recipients.contains(&"a-1") && recipients.contains(&"ga-1"),
        "{timeline}"
    );

    // Release: the holiday holds unless overridden (and the audit says so).
    let (_, pending) = d
        .get(
            "/v1/notices?school=alpha&state=pending&role=student",
            Some(READ),
        )
        .await;
    let student = items(&pending)[0]["id"].as_i64().unwrap();
    let (status, body) = d
        .post(&format!("/v1/notices/{student}/release"), None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("override_blackout"),
        "{body}"
    );
    let (status, body) = d
        .post(
            &format!("/v1/notices/{student}/release?override_blackout=true"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["explain"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("released by an operator"));
    d.wait_for(
        "the released notice sent",
        &format!("/v1/notices/{student}"),
        |n| n["state"] == "sent",
    )
    .await;
    assert!(inbox
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.to == ["ada@example.nl"]));

    // Cancel: once; never sent.
    let (_, pending) = d
        .get(
            "/v1/notices?school=alpha&state=pending&role=guardian",
            Some(READ),
        )
        .await;
    let guardian = items(&pending)[0]["id"].as_i64().unwrap();
    let (status, body) = d
        .post(&format!("/v1/notices/{guardian}/cancel"), None)
        .await;
    assert_eq!(
        (status, &body["state"]),
        (200, &"cancelled".into()),
        "{body}"
    );
    assert_eq!(
        d.post(&format!("/v1/notices/{guardian}/cancel"), None)
            .await
            .0,
        409
    );
    assert_eq!(d.post("/v1/notices/999999/cancel", None).await.0, 404);

    // Resend the dead one by id.
    let dead_id = dead["id"].as_i64().unwrap();
    let (status, body) = d
        .post("/v1/dead/resend", Some(format!(r#"{{"ids":[{dead_id}]}}"#)))
        .await;
    assert_eq!((status, &body["resent"]), (200, &1.into()), "{body}");
    assert_eq!(d.post("/v1/dead/resend", Some("{}".into())).await.0, 400);

    // Quarantine: the unknown school is replayed once the config knows it; the broken input
    // is discarded.
    let (_, q) = d.get("/v1/quarantine", Some(READ)).await;
    assert_eq!(items(&q).len(), 2, "{q}");
    let gamma = items(&q)
        .iter()
        .find(|i| i["reason"].as_str().unwrap().contains("gamma"))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let broken = items(&q).iter().find(|i| i["id"] != gamma).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, item) = d.get(&format!("/v1/quarantine/{gamma}"), Some(READ)).await;
    assert!(item["raw"].as_str().unwrap().contains("\"e-g\""), "{item}");
    let (status, body) = d
        .post(&format!("/v1/quarantine/{gamma}/replay"), None)
        .await;
    assert_eq!(status, 422, "{body}");
    // A config with an error is refused with the error; the old one stays.
    std::fs::write(
        &config,
        scenario_config(
            d.dir(),
            d.http,
            d.admin,
            smtp,
            "[quiet_hours]\nstart = \"25:00\"\n",
        ),
    )
    .unwrap();
    let (status, body) = d.post("/v1/reload", None).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"][0]
            .as_str()
            .unwrap()
            .contains("quiet_hours.start"),
        "{body}"
    );
    std::fs::write(
        &config,
        scenario_config(d.dir(), d.http, d.admin, smtp, "[schools.gamma]\n"),
    )
    .unwrap();
    let (status, body) = d.post("/v1/reload", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d
        .post(&format!("/v1/quarantine/{gamma}/replay"), None)
        .await;
    assert_eq!(
        (status, &body["status"], &body["event"]),
        (200, &"accepted".into(), &"e-g".into()),
        "{body}"
    );
    let (status, _) = d
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/quarantine/{broken}"),
            Some(OPERATE),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, q) = d.get("/v1/quarantine", Some(READ)).await;
    assert!(items(&q).is_empty(), "{q}");
    assert_eq!(d.get("/v1/events/e-g", Some(READ)).await.0, 200);

    // Every action is in the audit trail, by the token's name.
    let (_, audit) = d.get("/v1/audit", Some(READ)).await;
    let actions: Vec<(&str, &str)> = items(&audit)
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    let m = "admin:marit";
    assert_eq!(
        actions,
        [
            (m, "directory.import"),
            (m, "notices.release"),
            (m, "notices.cancel"),
            (m, "notices.resend"),
            (m, "config.reload"),
            (m, "config.reload"),
            (m, "quarantine.replay"),
            (m, "quarantine.discard"),
        ],
        "{audit}"
    );
    let release = &items(&audit)[1];
    assert_eq!(release["target"], format!("notice:{student}"));
    assert_eq!(release["after"]["override_blackout"], true);
    let (_, only) = d.get("/v1/audit?action=notices.", Some(READ)).await;
    assert_eq!(items(&only).len(), 3, "{only}");

    // Erasure on request (AVG): the student's event (unresolved: not in the directory) is
    // gone, and the erasure is audited.
    let (status, erased) = d
        .send(
            reqwest::Method::DELETE,
            "/v1/students/g-1",
            Some(OPERATE),
            None,
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["events"], 1, "{erased}");
    assert_eq!(erased["still_in_directory"], false, "{erased}");
    assert_eq!(d.get("/v1/events/e-g", Some(READ)).await.0, 404);
    let (_, audit) = d.get("/v1/audit?action=student.erase", Some(READ)).await;
    let entry = &items(&audit)[0];
    assert_eq!(
        (entry["actor"].as_str(), entry["target"].as_str()),
        (Some(m), Some("student:g-1"))
    );
}

/// Every route of the OpenAPI document is served, and answers each token as its level says:
/// no token or a wrong one 401 (but the probes), a read token 403 on actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served_and_checks_its_token() {
    let (smtp, _inbox) = common::start_server();
    let d = start_scenario(smtp, "").await;
    let (_, spec) = d.get("/v1/openapi.json", Some(READ)).await;
    let paths = spec["paths"].as_object().unwrap();
    let mut routes = vec![];
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let operate = op["description"]
                .as_str()
                .unwrap_or_default()
                .contains("level `operate`");
            let public = op.get("security").is_none();
            routes.push((path.clone(), method.clone(), operate, public));
        }
    }
    let documented: std::collections::BTreeSet<&str> =
        routes.iter().map(|r| r.0.as_str()).collect();
    for expected in [
        "/healthz",
        "/readyz",
        "/v1/openapi.json",
        "/v1/status",
        "/v1/notices",
        "/v1/notices/{id}",
        "/v1/notices/{id}/cancel",
        "/v1/notices/{id}/release",
        "/v1/events/{id}",
        "/v1/students/{id}/timeline",
        "/v1/dead",
        "/v1/dead/resend",
        "/v1/quarantine",
        "/v1/quarantine/{id}",
        "/v1/quarantine/{id}/replay",
        "/v1/audit",
        "/v1/directory",
        "/v1/reload",
    ] {
        assert!(
            documented.contains(expected),
            "{expected} is not in the OpenAPI document"
        );
    }
    for (path, method, operate, public) in &routes {
        let path = path.replace("{id}", "999999");
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        // A body that is valid JSON but selects nothing, so an allowed action changes nothing.
        let body = (method != reqwest::Method::GET && method != reqwest::Method::DELETE)
            .then(|| r#"{"ids":[999999]}"#.to_string());
        let call = |token: Option<&'static str>| d.send(method.clone(), &path, token, body.clone());
        let (none, _) = call(None).await;
        let (wrong, _) = call(Some("wrong-token-0123456789abcdef")).await;
        let (read, read_body) = call(Some(READ)).await;
        let (op, op_body) = call(Some(OPERATE)).await;
        let what = format!("{method} {path}");
        if *public {
            assert_eq!(none, 200, "{what}");
            continue;
        }
        assert_eq!((none, wrong), (401, 401), "{what}");
        if *operate {
            assert_eq!(read, 403, "{what}: {read_body}");
        } else {
            assert!(
                ![401, 403, 405].contains(&read),
                "{what}: {read} {read_body}"
            );
        }
        // Served by a handler (its 404s say what is missing), never the router's 404 or 405.
        assert!(![401, 403, 405].contains(&op), "{what}: {op} {op_body}");
        assert!(
            op != 404 || op_body["error"].is_string(),
            "{what} is not served"
        );
    }
}

/// 10 000 notices page by page: each once, in id order, filters applied per page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_cover_ten_thousand_notices_once_each() {
    let (smtp, _inbox) = common::start_server();
    let d = start_scenario(smtp, "").await;
    let (status, _) = d
        .send(
            reqwest::Method::PUT,
            "/v1/directory",
            Some(OPERATE),
            Some(DIRECTORY.into()),
        )
        .await;
    assert_eq!(status, 200);
    // Alpha is in a holiday: every notice waits. Two notices (student, guardian) per grade.
    for batch in 0..5 {
        let lines: Vec<String> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                grade(
                    &format!("p-{n}"),
                    "alpha",
                    &format!("r-{n}"),
                    "a-1",
                    &now_rfc3339(-60),
                )
            })
            .collect();
        let r = d.ingest(&(lines.join("\n") + "\n")).await;
        assert_eq!(r["accepted"], 1000, "{r}");
    }
    let walk = |query: &'static str, limit: u32| {
        let d = &d;
        async move {
            let mut ids: Vec<i64> = vec![];
            let mut after: Option<i64> = None;
            let mut pages = 0;
            loop {
                let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
                let path = format!("/v1/notices?limit={limit}{query}{cursor}");
                let (status, page) = d.get(&path, Some(READ)).await;
                assert_eq!(status, 200, "{page}");
                pages += 1;
                ids.extend(items(&page).iter().map(|n| n["id"].as_i64().unwrap()));
                match page["next_after"].as_i64() {
                    Some(a) => after = Some(a),
                    None => break,
                }
            }
            (ids, pages)
        }
    };
    let (ids, pages) = walk("", 1000).await;
    assert_eq!(ids.len(), 10_000);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in order, none twice"
    );
    assert!((10..=11).contains(&pages), "{pages} pages");
    let (guardians, _) = walk("&role=guardian&state=pending", 700).await;
    assert_eq!(guardians.len(), 5000);
    let (default_pages, pages) = walk("&school=alpha", 100).await;
    assert_eq!((default_pages, pages >= 100), (ids, true));
    let (_, status) = d.get("/v1/status", Some(READ)).await;
    let alpha = &status["schools"].as_array().unwrap()[0];
    assert_eq!(
        (&alpha["school"], &alpha["pending"]),
        (&"alpha".into(), &10_000.into())
    );
    assert_eq!(d.get("/v1/notices?limit=1001", Some(READ)).await.0, 400);
    assert_eq!(d.get("/v1/notices?state=lost", Some(READ)).await.0, 400);
}
