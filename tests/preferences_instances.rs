//! Two `rustig run` processes on one PostgreSQL schema, each with its own preference page: a
//! guardian's choice made through A's page reaches B's planning at once (PostgreSQL
//! `NOTIFY`), not only at B's next start or reload. B plans a new grade with the choice.

mod common;
mod prefs;

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, SecondsFormat, Utc};
use common::daemon::BaseConfig;
use reqwest::header::{COOKIE, SET_COOKIE};
use rustig::model::Role;
use rustig::prefs::token::Keyring;

fn write_config(tmp: &Path, name: &str, store: &str, http: u16, page: u16) -> PathBuf {
    let t = tmp.display();
    BaseConfig::new(tmp)
        .store(store)
        .directory_in_tmp()
        .http(http)
        .email(&format!(
            "transport = \"file\"\ndir = \"{t}/outbox-{name}\""
        ))
        .no_quiet_times()
        .extra(&format!(
            r#"[grades]
classroom_first = "off"
guardian_delay = "24h"
guardians = "all"
[digest]
students = "immediate"
guardians = "immediate"
[consent]
student_controls = "from_16"
adult_needs_consent = true
[preferences]
listen = "127.0.0.1:{page}"
base_url = "http://localhost:{page}/"
key_file = "{t}/links.key"
per_link_per_minute = 1000
per_address_per_minute = 10000
"#
        ))
        .write_as(name)
}

/// The daemons, killed when the test ends however it ends.
struct Daemons(Vec<std::process::Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn post_grade(http: u16, id: &str) {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/events"))
        .json(&prefs::grade(id, "s-15", &now, "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

/// The rules of an event's notice to a recipient, as stored.
async fn reasons(db: &sqlx::PgPool, event: &str, recipient: &str) -> String {
    sqlx::query_scalar("SELECT reasons FROM notices WHERE event_id = $1 AND recipient = $2")
        .bind(event)
        .bind(recipient)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("notice of {event} to {recipient}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_on_one_instance_reaches_the_other_at_once() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("directory.json"), prefs::DIRECTORY).unwrap();
    let (keys, _) = rustig::prefs::token::rotate("", Utc::now(), Duration::days(30));
    std::fs::write(tmp.path().join("links.key"), keys).unwrap();
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();

    let https = [common::free_port(), common::free_port()];
    let pages = [common::free_port(), common::free_port()];
    let mut daemons = Daemons(vec![]);
    for (i, name) in ["a", "b"].iter().enumerate() {
        let config = write_config(tmp.path(), name, &pg.url, https[i], pages[i]);
        daemons.0.push(common::start_named_daemon(&config, name));
    }
    for http in https {
        common::wait_ready(http).await;
    }

    // Before any choice, B plans Anna's grade notice by the school's rules alone.
    post_grade(https[1], "g-0").await;
    assert!(!reasons(&db, "g-0", "g-2001").await.contains("preference"));

    // Anna switches to weekly through A's page.
    choose_weekly(tmp.path(), pages[0], "g-2001").await;
    // A re-planned the pending notice in the shared store.
    assert!(reasons(&db, "g-0", "g-2001").await.contains("preference"));

    // B plans the next grade with Anna's choice, without a reload: a notification away.
    let started = Instant::now();
    let n = until_b_plans_with(&db, https[1], "g-2001", 0).await;
    // Peter chose nothing: still the school's rules alone.
    assert!(!reasons(&db, &format!("g-{n}"), "g-2002")
        .await
        .contains("preference"));
    eprintln!(
        "B planned with the choice after {:?} ({n} grade(s))",
        started.elapsed()
    );

    // The notification connections are cut (a PostgreSQL restart, a proxy's idle timeout):
    // they reconnect, and the next choice still reaches B.
    let schema_channel = format!(
        "rustig_prefs_{}",
        hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(pg.schema.as_bytes())[..8])
    );
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'",
    )
    .bind(&schema_channel)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(cut, vec![true, true], "both instances' listeners");
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    choose_weekly(tmp.path(), pages[0], "g-2002").await;
    until_b_plans_with(&db, https[1], "g-2002", n).await;
}

/// Posts grades to B (numbered after `after`) until B plans `guardian`'s notice with a
/// `preference` step; returns the number of the grade that had it.
async fn until_b_plans_with(db: &sqlx::PgPool, b: u16, guardian: &str, after: usize) -> usize {
    let started = Instant::now();
    let mut n = after;
    loop {
        n += 1;
        let id = format!("g-{n}");
        post_grade(b, &id).await;
        if reasons(db, &id, guardian).await.contains("preference") {
            return n;
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(15),
            "B still plans without {guardian}'s choice after {} grades",
            n - after
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// A guardian chooses a weekly digest through the page on `page`.
async fn choose_weekly(tmp: &Path, page: u16, guardian: &str) {
    let keys = Keyring::load(&tmp.join("links.key")).unwrap();
    let token = keys.sign(
        "coornhert",
        Role::Guardian,
        guardian,
        Utc::now(),
        Duration::days(30),
    );
    let link = format!("http://localhost:{page}/p/{token}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .expect("a form cookie");
    let page = r.text().await.unwrap();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &prefs::hidden(&page, "csrf"))
        .append_pair("version", &prefs::hidden(&page, "version"))
        .append_pair("frequency", "weekly")
        .append_pair("on", "email")
        .append_pair("locale", "nl")
        .finish();
    let r = client
        .post(&link)
        .header(COOKIE, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}
