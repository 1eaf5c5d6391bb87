//! The `rustig` binary polling SOMtoday and Smartschool fakes, killed with SIGKILL between
//! polls, in the middle of a slow poll, and right after a poll's events were committed (before
//! its snapshot could be): started again, the term's changes end up as exactly the expected
//! events, each once.

mod common;
mod sis_fake;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use serde_json::json;
use sis_fake::{dossier, events, leerling, wait_until, Fake, ACCESSCODE, SECRET};

struct Daemon(Child);

impl Daemon {
    fn start(config: &Path) -> Daemon {
        Daemon(common::start_daemon(config))
    }

    fn kill9(mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }

    fn terminate(mut self) {
        let pid = self.0.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Ev = (String, String, String);

async fn polled_scopes(tmp: &Path) -> i64 {
    let Some(mut conn) = sis_fake::db(tmp).await else {
        return 0;
    };
    sqlx::query_scalar("SELECT COUNT(*) FROM sis_scopes WHERE scope NOT LIKE '~%'")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0)
}

fn ev(t: &str, r: &str, w: &str) -> Ev {
    (t.into(), r.into(), w.into())
}

fn write_config(tmp: &Path, fake: &Fake, http: u16) -> PathBuf {
    let secret = tmp.join("somtoday.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let code = tmp.join("accesscode");
    std::fs::write(&code, ACCESSCODE).unwrap();
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n[ingest.http]\nlisten = \"127.0.0.1:{http}\"\n\
         [email]\ntransport = \"file\"\ndir = \"{out}\"\nfrom = \"School <noreply@school.example>\"\n\
         [schools.coornhert]\nname = \"Coornhert\"\n\n\
         [[ingest.somtoday]]\nschool = \"coornhert\"\n{som}interval = \"1s\"\ntimetable = false\n\n\
         [[ingest.smartschool]]\nschool = \"coornhert\"\nurl = \"{url}/Webservices/V3\"\n\
         accesscode_file = \"{code}\"\ninterval = \"1s\"\ndays = 0\nignore = [\"|\"]\n\
         codes = {{ O = \"unauthorized\", Z = \"sick\", L = \"late\" }}\n",
        db = tmp.join("rustig.db").display(),
        out = tmp.join("outbox").display(),
        som = fake.somtoday_toml(&secret),
        url = fake.url(),
        code = code.display(),
    );
    let path = tmp.join("rustig.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Kills the daemon as soon as more events are stored than `before` (a poll committed its
/// events; its snapshot may not be stored yet).
async fn kill_after_events(tmp: &Path, d: Daemon, before: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while events(tmp).await.len() <= before {
        assert!(std::time::Instant::now() < deadline, "no events arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    d.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_moment_loses_and_doubles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    let day = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let absence = |student: &str| format!("smartschool/{day}/{student}/am");
    fake.with(|d| {
        d.students = vec![
            leerling("u-1", 1001, "Merel", "de Jong", "3c"),
            leerling("u-2", 1002, "Daan", "Bakker", "3c"),
        ];
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,4")]));
        d.absences
            .insert(day.clone(), json!({"1001": {"am": "O", "pm": "|"}}));
    });
    let http = common::free_port();
    let config = write_config(tmp.path(), &fake, http);

    // The baseline, then a kill between polls.
    let d = Daemon::start(&config);
    common::wait_ready(http).await;
    wait_until("the baseline", 30, || async {
        polled_scopes(tmp.path()).await == 3
    })
    .await;
    assert!(events(tmp.path()).await.is_empty());
    fake.with(|d| {
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,8")]));
        d.dossiers
            .insert("u-2".into(), dossier("wiskunde", &[("r-2", "T1", "7")]));
        d.absences
            .insert(day.clone(), json!({"1001": {"am": "Z", "pm": "|"}}));
    });
    let mut expected = vec![
        ev("grade.entered", "u-1/r-1", "5,8"),
        ev("grade.entered", "u-2/r-2", "7"),
        ev("absence.registered", &absence("1001"), "sick"),
    ];
    wait_until("the first changes", 30, || async {
        events(tmp.path()).await.len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.kill9();

    // Killed in the middle of slow polls (answers take 400 ms).
    fake.with(|d| {
        d.delay = Duration::from_millis(400);
        d.dossiers.insert(
            "u-1".into(),
            dossier("wiskunde", &[("r-1", "T1", "5,8"), ("r-3", "T2", "6")]),
        );
        d.absences.insert(
            day.clone(),
            json!({"1001": {"am": "Z", "pm": "|"}, "1002": {"am": "L"}}),
        );
    });
    expected.push(ev("grade.entered", "u-1/r-3", "6"));
    expected.push(ev("absence.registered", &absence("1002"), "late"));
    let d = Daemon::start(&config);
    common::wait_ready(http).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    d.kill9();
    fake.with(|d| d.delay = Duration::ZERO);

    // Killed right after a poll committed its events, before its snapshot; twice.
    for round in 0..2 {
        let before = events(tmp.path()).await.len();
        let d = Daemon::start(&config);
        common::wait_ready(http).await;
        if round == 0 {
            wait_until("the slow polls' changes", 30, || async {
                events(tmp.path()).await.len() == 5
            })
            .await;
            let before = events(tmp.path()).await.len();
            fake.with(|d| {
                d.dossiers.insert("u-2".into(), dossier("wiskunde", &[]));
                d.absences
                    .insert(day.clone(), json!({"1001": {"am": "Z", "pm": "|"}}));
            });
            expected.push(ev("grade.withdrawn", "u-2/r-2", ""));
            expected.push(ev("absence.withdrawn", &absence("1002"), ""));
            kill_after_events(tmp.path(), d, before).await;
        } else {
            fake.with(|d| {
                d.dossiers.insert(
                    "u-1".into(),
                    dossier("wiskunde", &[("r-1", "T1", "5,9"), ("r-3", "T2", "6,5")]),
                );
            });
            expected.push(ev("grade.entered", "u-1/r-1", "5,9"));
            expected.push(ev("grade.entered", "u-1/r-3", "6,5"));
            kill_after_events(tmp.path(), d, before.max(7)).await;
        }
    }

    // The last start: it catches up, and then nothing more happens.
    let d = Daemon::start(&config);
    common::wait_ready(http).await;
    expected.sort();
    let n = expected.len();
    wait_until("every change", 30, || async {
        events(tmp.path()).await.len() >= n
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(events(tmp.path()).await, expected);
    d.terminate();
}
