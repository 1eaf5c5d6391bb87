//! A relay fault seen where an operator looks: the real daemon sends to a private Postfix
//! whose certificate comes from a CA the daemon does not trust. The admin `/v1/status` shows
//! the email channel's fault (what, since when, how many sends it held) and `rustig status`
//! counts the notices it holds, not only the daemon's log.

mod common;
#[path = "common/postfix.rs"]
mod postfix;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::{get_json, rustig_status, BaseConfig, Killed};
use postfix::Postfix;

const READ: &str = "read-token-0123456789abcdef";

fn directory() -> String {
    let students: Vec<_> = (0..4)
        .map(|i| {
            serde_json::json!({"id": format!("s-{i}"), "school": "coornhert",
                "name": format!("Leerling {i}"), "birth_date": "2012-05-01", "class": "2b",
                "locale": "nl", "contacts": [{"email": format!("s-{i}@leerling.example")}],
                "guardians": []})
        })
        .collect();
    serde_json::json!({"students": students}).to_string()
}

fn write_config(tmp: &Path, http: u16, admin: u16, smtp: u16) -> std::path::PathBuf {
    BaseConfig::new(tmp)
        .directory_in_tmp()
        .http(http)
        .email(&format!(
            "transport = \"smtp\"\nurl = \"smtp://localhost:{smtp}\"\ntls = \"required\""
        ))
        .no_quiet_times()
        .extra(&format!(
            r#"[admin]
listen = "127.0.0.1:{admin}"
read_token_file = "{tmp}/read.token"
[grades]
classroom_first = "off"
[digest]
students = "immediate"
guardians = "immediate"
"#,
            tmp = tmp.display()
        ))
        .write()
}

async fn status(admin: u16) -> serde_json::Value {
    get_json(&format!("http://127.0.0.1:{admin}/v1/status"), READ).await
}

async fn wait_status(
    admin: u16,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(admin).await;
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "no {what} in {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn grade(http: u16, i: usize) {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let line = common::grade_line(&format!("g-{i}"), &format!("s-{i}"), &now);
    let client = reqwest::Client::new();
    assert_eq!(common::post_events(&client, http, line).await, Some(202));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_relay_certificate_shows_in_the_status_with_what_it_holds() {
    let Some(pf) = Postfix::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("directory.json"), directory()).unwrap();
    std::fs::write(tmp.path().join("read.token"), format!("{READ}\n")).unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let config = write_config(tmp.path(), http, admin, pf.smtp);
    let _d = Killed(common::start_named_daemon(&config, "rustig"));
    common::wait_ready(http).await;

    // Before anything is sent the relay is not known to be faulty.
    let s = wait_status(admin, "the email channel", |s| {
        s["channels"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    let ch = &s["channels"][0];
    assert_eq!(ch["channel"], "email");
    assert_eq!(ch["relay"], format!("localhost:{}", pf.smtp));
    assert_eq!(ch["ok"], true, "{s:#}");

    // The first message meets the untrusted certificate: the fault, since when.
    let before = Utc::now();
    grade(http, 0).await;
    let s = wait_status(admin, "a relay fault", |s| s["channels"][0]["ok"] == false).await;
    let ch = &s["channels"][0];
    let fault = ch["fault"].as_str().unwrap();
    assert!(fault.contains("not accepted"), "{fault}");
    assert!(fault.contains("UnknownIssuer"), "{fault}");
    assert!(fault.contains("email.ca_file"), "{fault}");
    let since = chrono::DateTime::parse_from_rfc3339(ch["fault_since"].as_str().unwrap()).unwrap();
    assert!(since >= before - chrono::Duration::seconds(1), "{since}");

    // Later messages are held without a handshake, and counted.
    for i in 1..4 {
        grade(http, i).await;
    }
    let s = wait_status(admin, "held sends", |s| {
        s["channels"][0]["held"].as_u64() >= Some(3)
            && s["held_by_relay_fault"] == 4
            && s["schools"][0]["pending"] == 4
    })
    .await;
    assert_eq!(s["channels"][0]["fault_since"], ch["fault_since"]);
    assert_eq!(s["schools"][0]["dead"], 0, "{s:#}");

    // `rustig status` reads the store: it cannot see the daemon's fault, but counts the
    // notices held by one.
    let out = rustig_status(&config);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("held by a relay fault: 4 pending notices"),
        "{text}"
    );
    // One handshake was tried, nothing was accepted.
    assert!(pf.message_ids().is_empty(), "{}", pf.log());
    assert_eq!(
        pf.log().matches("]: connect from localhost").count(),
        1,
        "{}",
        pf.log()
    );
}
