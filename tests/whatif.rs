//! The what-if against a real daemon on a scripted week (issue 14): a candidate that moves
//! quiet hours from 20:00 to 19:00 moves the expected notices, and the replay's figures
//! agree with `rustig simulate` run on the same events under both configs; a candidate with
//! errors gets every one with its line; a huge or binary upload is refused; nothing in the
//! store changes; `apply` needs the operate token, writes the file and `.bak`, reloads and is
//! audited; `rustig whatif` says the same as the API.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use common::daemon::{example_directory, get_json, BaseConfig, Daemon};
use serde_json::Value;

const READ: &str = "whatif-read-0123456789abcdef";
const OPERATE: &str = "whatif-operate-0123456789abcdef";

/// The rules of the week: quiet from `quiet_start` to 07:00, no weekend, grades at once to
/// the student and an hour later to the guardians, no digests.
fn rules(quiet_start: &str) -> String {
    format!(
        r#"[quiet_hours]
start = "{quiet_start}"
end = "07:00"
[weekend]
enabled = false
[grades]
classroom_first = "off"
guardian_delay = "1h"
guardians = "all"
[digest]
students = "immediate"
guardians = "immediate"
"#
    )
}

fn admin_table(tmp: &Path, port: u16) -> String {
    let t = tmp.display();
    format!(
        "[admin]\nlisten = \"127.0.0.1:{port}\"\nread_token_file = \"{t}/read.token\"\noperate_token_file = \"{t}/operate.token\"\n"
    )
}

fn config(tmp: &Path, http: u16, admin: u16, quiet_start: &str) -> BaseConfig {
    BaseConfig::new(tmp)
        .http(http)
        .extra(&admin_table(tmp, admin))
        .extra(&rules(quiet_start))
}

fn grade(id: &str, at: DateTime<Utc>) -> String {
    let at = at
        .with_timezone(&Amsterdam)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{at}","record":"r-{id}","student":"s-1001","grade":{{"assessment":"a-{id}","subject":"wiskunde","class":"3c","description":"Toets","value":"6,8","kind":"test"}}}}"#
    )
}

fn local(date: chrono::NaiveDate, hm: (u32, u32)) -> DateTime<Utc> {
    Amsterdam
        .from_local_datetime(&date.and_time(NaiveTime::from_hms_opt(hm.0, hm.1, 0).unwrap()))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// The next `hm` local after `now` (within a day).
fn next_local(now: DateTime<Utc>, hm: (u32, u32)) -> DateTime<Utc> {
    let today = now.with_timezone(&Amsterdam).date_naive();
    let t = local(today, hm);
    if t > now + Duration::minutes(1) {
        t
    } else {
        local(today + Duration::days(1), hm)
    }
}

/// A grade for s-1001 at 12:00, 18:30, 19:30 and 21:00 on each of the last seven days, and at
/// the next 18:30 and 19:30 to come (those wait in the buffer).
fn scripted_week(now: DateTime<Utc>) -> Vec<String> {
    let today = now.with_timezone(&Amsterdam).date_naive();
    let mut lines = vec![];
    for d in (1..=7).rev() {
        let day = today - Duration::days(d);
        for hm in [(12, 0), (18, 30), (19, 30), (21, 0)] {
            lines.push(grade(
                &format!("d{d}-{:02}{:02}", hm.0, hm.1),
                local(day, hm),
            ));
        }
    }
    lines.push(grade("next-1830", next_local(now, (18, 30))));
    lines.push(grade("next-1930", next_local(now, (19, 30))));
    lines
}

/// Per (event, recipient, channel): when `rustig simulate` sends it.
fn simulated(config: &Path, events: &Path) -> HashMap<(String, String, String), DateTime<Utc>> {
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["simulate", "--config"])
        .arg(config)
        .arg("--directory")
        .arg(example_directory())
        .arg("--events")
        .arg(events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut at = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let m: Value = serde_json::from_str(line).unwrap();
        if m["type"] == "suppressed" {
            continue;
        }
        let t = DateTime::parse_from_rfc3339(m["at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        for e in m["events"].as_array().unwrap() {
            let key = (
                e.as_str().unwrap().to_string(),
                m["recipient"].as_str().unwrap().to_string(),
                m["channel"].as_str().unwrap().to_string(),
            );
            assert!(at.insert(key, t).is_none(), "a notice sent twice: {line}");
        }
    }
    at
}

/// earlier, later, same, disappear, appear between two simulate outcomes.
fn moved(
    before: &HashMap<(String, String, String), DateTime<Utc>>,
    after: &HashMap<(String, String, String), DateTime<Utc>>,
) -> [u64; 5] {
    let mut c = [0; 5];
    for (k, b) in before {
        match after.get(k) {
            Some(a) if a < b => c[0] += 1,
            Some(a) if a > b => c[1] += 1,
            Some(_) => c[2] += 1,
            None => c[3] += 1,
        }
    }
    c[4] = after.keys().filter(|k| !before.contains_key(*k)).count() as u64;
    c
}

fn counts(c: &Value) -> [u64; 5] {
    ["earlier", "later", "same", "disappear", "appear"].map(|k| c[k].as_u64().unwrap())
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    daemon: Option<Daemon>,
    admin: u16,
    current: std::path::PathBuf,
    candidate: std::path::PathBuf,
    events: std::path::PathBuf,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("read.token"), format!("{READ}\n")).unwrap();
    std::fs::write(dir.join("operate.token"), format!("ops {OPERATE}\n")).unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let current = config(&dir, http, admin, "20:00").write();
    let candidate = config(&dir, http, admin, "19:00").write_as("candidate");
    let daemon = Daemon::logging_to(&current, "warn", &dir.join("daemon.log"));
    common::wait_ready(http).await;
    let events = scripted_week(Utc::now()).join("\n") + "\n";
    let path = dir.join("week.ndjson");
    std::fs::write(&path, &events).unwrap();
    let r = common::daemon::post_ndjson(http, events).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // Whatever is due now is sent before the what-if looks.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    Setup {
        _tmp: tmp,
        dir,
        daemon: Some(daemon),
        admin,
        current,
        candidate,
        events: path,
    }
}

async fn post(admin: u16, path: &str, token: &str, kind: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{admin}{path}"))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What the store holds, as the API shows it: every notice and the audit trail.
async fn store_view(admin: u16) -> (Value, Value) {
    let base = format!("http://127.0.0.1:{admin}");
    (
        get_json(&format!("{base}/v1/notices?limit=1000"), READ).await,
        get_json(&format!("{base}/v1/audit?limit=1000"), READ).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_at_19_move_what_simulate_says_and_apply_puts_them_in_force() {
    let s = setup().await;
    let candidate = std::fs::read(&s.candidate).unwrap();
    let before = store_view(s.admin).await;
    let config_text = std::fs::read(&s.current).unwrap();

    let (status, report) = post(
        s.admin,
        "/v1/whatif",
        READ,
        "application/toml",
        candidate.clone(),
    )
    .await;
    assert_eq!(status, 200, "{report}");

    // The replay: 30 events (4 a day for 7 days, and 2 to come), each a notice to s-1001 and
    // one to each of two guardians an hour after the student's. Quiet from 19:00: the
    // student's 19:30 notices (8) wait for 07:00, and their guardians' for 08:00 (16); the
    // guardians' 19:30 of the 18:30 grades wait for 07:00 (16). Nothing comes sooner, nothing
    // disappears.
    let replay = &report["replay"];
    assert_eq!(replay["events"], 30, "{replay}");
    let total = counts(&replay["diff"]["total"]);
    assert_eq!(total, [0, 8 + 16 + 16, 90 - 40, 0, 0], "{replay}");
    let diff = &replay["diff"];
    assert_eq!(
        counts(&diff["by_role"]["student"]),
        [0, 8, 22, 0, 0],
        "{diff}"
    );
    assert_eq!(
        counts(&diff["by_role"]["guardian"]),
        [0, 32, 28, 0, 0],
        "{diff}"
    );
    assert_eq!(counts(&diff["by_rule"]["quiet_hours"])[1], 8 + 16, "{diff}");
    assert_eq!(counts(&diff["by_rule"]["guardian_delay"])[1], 16, "{diff}");
    assert_eq!(counts(&diff["by_school"]["coornhert"])[1], 40);
    assert_eq!(counts(&diff["by_channel"]["email"])[1], 40);

    // The same figures from `rustig simulate` on the same events under both configs.
    let sim_before = simulated(&s.current, &s.events);
    let sim_after = simulated(&s.candidate, &s.events);
    assert_eq!(moved(&sim_before, &sim_after), total, "simulate disagrees");
    assert_eq!(report["replay"]["diff"]["before"], sim_before.len());
    assert_eq!(report["replay"]["diff"]["after"], sim_after.len());

    // The buffer: of the grades still to come, the next 18:30's guardians and the next
    // 19:30's student and guardians move (5); what waits for 07:00 stays. (Between 19:00 and
    // 20:00 the guardians of the past days' grades wait in the buffer too, and move.)
    let pending = counts(&report["pending"]["total"]);
    assert_eq!(
        [pending[0], pending[3], pending[4]],
        [0, 0, 0],
        "{}",
        report["pending"]
    );
    let hour = chrono::Timelike::hour(&Utc::now().with_timezone(&Amsterdam));
    if !(17..21).contains(&hour) {
        assert_eq!(pending[1], 5, "{}", report["pending"]);
    } else {
        assert!(pending[1] >= 5, "{}", report["pending"]);
    }
    assert_eq!(report["restart_only"], serde_json::json!([]));
    // The week ahead under both: the candidate's chart has an hour more blackout each night,
    // and the same pending notices in it; calm figures per replayed week under both.
    let school = &report["schools"][0];
    assert_eq!(school["school"], "coornhert");
    let dark = |week: &Value| -> i64 {
        week["blackouts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let t = |k: &str| DateTime::parse_from_rfc3339(b[k].as_str().unwrap()).unwrap();
                (t("end") - t("start")).num_minutes()
            })
            .sum()
    };
    let (before_week, after_week) = (&school["week_before"], &school["week_after"]);
    assert!(
        dark(after_week) >= dark(before_week) + 6 * 60,
        "{before_week} {after_week}"
    );
    let held = |week: &Value| -> u64 {
        week["bars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["total"].as_u64().unwrap())
            .sum::<u64>()
            + week["beyond"].as_u64().unwrap()
            + week["overdue"].as_u64().unwrap()
    };
    assert_eq!(
        held(before_week),
        report["pending"]["before"].as_u64().unwrap()
    );
    assert_eq!(
        held(after_week),
        report["pending"]["after"].as_u64().unwrap()
    );
    let calm = school["calm"].as_array().unwrap();
    assert!(!calm.is_empty(), "{school}");
    for week in calm {
        assert_eq!(week["before"]["in_quiet_hours"], 0, "{week}");
        assert_eq!(week["after"]["in_quiet_hours"], 0, "{week}");
    }
    assert!(
        report["rules"]["after"].as_str().unwrap().contains("19:00"),
        "{}",
        report["rules"]
    );

    // JSON form, and the CLI against the daemon's store say the same.
    let json =
        serde_json::json!({ "toml": String::from_utf8(candidate.clone()).unwrap(), "days": 14 });
    let (status, again) = post(
        s.admin,
        "/v1/whatif",
        READ,
        "application/json",
        json.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replay"]["diff"], report["replay"]["diff"]);
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["whatif", "--json", "--config"])
        .arg(&s.candidate)
        .arg("--current")
        .arg(&s.current)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["replay"]["diff"], report["replay"]["diff"]);
    assert_eq!(cli["pending"]["total"], report["pending"]["total"]);
    let text = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["whatif", "--config"])
        .arg(&s.candidate)
        .arg("--current")
        .arg(&s.current)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("0 earlier, 40 later"), "{text}");

    // Nothing changed: the notices, the audit trail, the file.
    assert_eq!(
        store_view(s.admin).await,
        before,
        "a what-if changed the store"
    );
    assert_eq!(std::fs::read(&s.current).unwrap(), config_text);

    // Applying needs the operate token.
    let (status, body) = post(
        s.admin,
        "/v1/whatif/apply",
        READ,
        "application/toml",
        candidate.clone(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Against a config that is no longer in force: refused.
    let stale = serde_json::json!({ "toml": String::from_utf8(candidate.clone()).unwrap(), "base_sha256": "0".repeat(64) });
    let (status, body) = post(
        s.admin,
        "/v1/whatif/apply",
        OPERATE,
        "application/json",
        stale.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(std::fs::read(&s.current).unwrap(), config_text);

    let apply = serde_json::json!({
        "toml": String::from_utf8(candidate.clone()).unwrap(),
        "base_sha256": report["current_sha256"],
    });
    let (status, applied) = post(
        s.admin,
        "/v1/whatif/apply",
        OPERATE,
        "application/json",
        apply.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        std::fs::read(&s.current).unwrap(),
        candidate,
        "the file is the candidate"
    );
    let bak = s.dir.join("rustig.toml.bak");
    assert_eq!(
        std::fs::read(&bak).unwrap(),
        config_text,
        "the previous file is the .bak"
    );
    assert_eq!(applied["new_sha256"], report["candidate_sha256"]);
    assert_eq!(applied["old_sha256"], report["current_sha256"]);

    // In force: the status names it, and the next 19:30 grade now waits for 07:00.
    let base = format!("http://127.0.0.1:{}", s.admin);
    let status_now = get_json(&format!("{base}/v1/status"), READ).await;
    assert_eq!(status_now["config"]["sha256"], report["candidate_sha256"]);
    let notices = get_json(
        &format!("{base}/v1/notices?event=next-1930&role=student"),
        READ,
    )
    .await;
    let explain = notices["items"][0]["explain"].to_string();
    assert!(explain.contains("quiet hours"), "{notices}");
    // A what-if of the old rules now shows the way back.
    let (_, back) = post(
        s.admin,
        "/v1/whatif",
        READ,
        "text/plain",
        config_text.clone(),
    )
    .await;
    assert_eq!(counts(&back["replay"]["diff"]["total"])[0], 40, "{back}");

    // Audited, with who and the digests.
    let audit = get_json(&format!("{base}/v1/audit?action=config.apply"), READ).await;
    let entry = &audit["items"][0];
    assert_eq!(entry["actor"], "admin:ops", "{audit}");
    assert_eq!(entry["before"]["sha256"], report["current_sha256"]);
    assert_eq!(entry["after"]["sha256"], report["candidate_sha256"]);
    drop(s.daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_candidates_are_refused_with_every_error_and_change_nothing() {
    let mut s = setup().await;
    let before = store_view(s.admin).await;
    let config_text = std::fs::read(&s.current).unwrap();
    // Three errors, on lines 2, 5 and 7.
    let bad = "[quiet_hours]\nstart = \"25:00\"\nend = \"07:00\"\n[grades]\nmax_hold = \"soon\"\n[digest]\nguardians = \"every now and then\"\n";
    let full = format!(
        "{}{bad}",
        std::fs::read_to_string(&s.current)
            .unwrap()
            .split("[quiet_hours]")
            .next()
            .unwrap()
    );
    let offset = full.lines().count() - bad.lines().count();
    let (status, body) = post(
        s.admin,
        "/v1/whatif",
        READ,
        "application/toml",
        full.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let details: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 3, "{body}");
    for (d, line) in details.iter().zip([2, 5, 7]) {
        assert!(
            d.starts_with(&format!("{}:", offset + line)),
            "{d} (line {})",
            offset + line
        );
    }
    // The same from apply (operate token), and nothing is written.
    let (status, body) = post(
        s.admin,
        "/v1/whatif/apply",
        OPERATE,
        "text/plain",
        full.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["details"].as_array().unwrap().len(), 3);
    assert_eq!(std::fs::read(&s.current).unwrap(), config_text);
    assert!(!s.dir.join("rustig.toml.bak").exists());
    // The CLI: every error with the file and line, exit 2.
    let cand = s.dir.join("bad.toml");
    std::fs::write(&cand, &full).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["whatif", "--config"])
        .arg(&cand)
        .arg("--current")
        .arg(&s.current)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.lines().filter(|l| l.contains("bad.toml:")).count(),
        3,
        "{err}"
    );

    // Huge: 413; binary or not UTF-8: 400; another media type: 415.
    let huge = vec![b'#'; 300 * 1024];
    let (status, body) = post(s.admin, "/v1/whatif", READ, "application/toml", huge).await;
    assert_eq!(status, 413, "{body}");
    let binary = vec![0x7f, b'E', b'L', b'F', 0, 0xff, 0xfe, 0x80];
    let (status, body) = post(
        s.admin,
        "/v1/whatif",
        READ,
        "application/octet-stream",
        binary.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(
        s.admin,
        "/v1/whatif/apply",
        OPERATE,
        "application/toml",
        binary,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(s.admin, "/v1/whatif", READ, "image/png", b"x = 1".to_vec()).await;
    assert_eq!(status, 415);
    let (status, _) = post(
        s.admin,
        "/v1/whatif?days=0",
        READ,
        "text/plain",
        config_text.clone(),
    )
    .await;
    assert_eq!(status, 400);
    // Without a token: 401.
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/whatif", s.admin))
        .body(config_text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(
        store_view(s.admin).await,
        before,
        "a refused what-if changed the store"
    );
    assert_eq!(std::fs::read(&s.current).unwrap(), config_text);
    s.daemon.take().unwrap().stop();
}
