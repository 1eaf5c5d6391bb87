//! The SOMtoday and Smartschool pollers in a running daemon, against local fakes that serve
//! the documented shapes: a scripted term of changes comes out as exactly the expected
//! events, once each; the baseline emits nothing; paging, absent fields, an expired token,
//! 429 with Retry-After and 5xx are handled; a lesson moved in the SIS moves when a grade is
//! released; broken answers are quarantined with the source and where, and the poll goes on.

mod sis_fake;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Timelike};
use rustig::clock::SystemClock;
use rustig::config::Config;
use serde_json::{json, Value};
use sis_fake::{
    dossier, events, leerling, les, quarantine, verzorger, wait_until, Fake, ACCESSCODE,
};

fn config(tmp: &Path, sources: &str) -> Config {
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n[email]\ntransport = \"file\"\ndir = \"{out}\"\n\
         from = \"School <noreply@school.example>\"\n\
         [grades]\nclassroom_first = \"next_lesson\"\nmax_hold = \"8d\"\n\
         [schools.coornhert]\nname = \"Coornhert\"\n\n{sources}",
        db = tmp.join("rustig.db").display(),
        out = tmp.join("outbox").display(),
    );
    Config::parse(Path::new("test.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

async fn scopes(tmp: &Path, source: &str) -> usize {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM sis_scopes WHERE source = ? AND scope NOT LIKE '~%'",
    )
    .bind(source)
    .fetch_one(&mut sis_fake::db(tmp).await.unwrap())
    .await
    .unwrap_or(0) as usize
}

async fn directory(tmp: &Path) -> Option<Value> {
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM directory WHERE id = 1")
        .fetch_optional(&mut sis_fake::db(tmp).await.unwrap())
        .await
        .unwrap();
    body.map(|b| serde_json::from_str(&b).unwrap())
}

fn e(t: &str, record: &str, what: &str) -> (String, String, String) {
    (t.into(), record.into(), what.into())
}

fn secret(tmp: &Path) -> std::path::PathBuf {
    let p = tmp.join("somtoday.secret");
    std::fs::write(&p, format!("{}\n", sis_fake::SECRET)).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_of_somtoday_changes_comes_out_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    fake.with(|d| {
        d.students = vec![
            leerling("u-1", 1001, "Merel", "de Jong", "3c"),
            leerling("u-2", 1002, "Daan", "Bakker", "3c"),
            // Without a birth date (the school did not grant it): polled, not in the directory.
            {
                let mut s = leerling("u-3", 1003, "Sanne", "Smit", "3c");
                s.as_object_mut().unwrap().remove("geboortedatum");
                s
            },
        ];
        d.guardians = ["u-1", "u-2", "u-3"].iter().map(|u| verzorger(u)).collect();
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,4")]));
        d.dossiers
            .insert("u-2".into(), dossier("wiskunde", &[("r-2", "T1", "7,0")]));
        let week = vec![
            les("wiskunde", 23, "10:15", "11:05"),
            les("wiskunde", 26, "08:30", "09:20"),
        ];
        d.rosters.insert("u-1".into(), week.clone());
        d.rosters.insert("u-2".into(), week);
    });
    let sources = format!(
        "[[ingest.somtoday]]\nschool = \"coornhert\"\n{}interval = \"1s\"\nstudents_interval = \"3s\"\n\
         page_size = 2\ndirectory = true\ntimetable = true\n",
        fake.somtoday_toml(&secret(tmp.path()))
    );
    let running = rustig::daemon::start(config(tmp.path(), &sources), Arc::new(SystemClock))
        .await
        .unwrap();
    let health = running
        .sources
        .iter()
        .find(|h| h.snapshot().name == "somtoday somtoday")
        .unwrap()
        .clone();

    // The baseline: every student polled, nothing emitted; the directory and timetable in.
    wait_until("the baseline", 30, || async {
        scopes(tmp.path(), "somtoday").await == 3
    })
    .await;
    wait_until("the directory", 30, || async {
        directory(tmp.path())
            .await
            .is_some_and(|d| d["timetable"].as_array().is_some_and(|t| !t.is_empty()))
    })
    .await;
    assert!(
        events(tmp.path()).await.is_empty(),
        "a baseline emits nothing"
    );
    let dir = directory(tmp.path()).await.unwrap();
    let ids: Vec<&str> = dir["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u-1", "u-2"], "u-3 has no birth date");
    assert_eq!(
        dir["students"][0]["guardians"][0]["contacts"][0]["email"],
        "ouder-u-1@example.nl"
    );
    assert_eq!(dir["timetable"][0]["class"], "3c");
    assert_eq!(
        dir["timetable"][0]["lessons"],
        json!(["mon 10:15-11:05", "thu 08:30-09:20"])
    );
    assert_eq!(fake.with(|d| d.max_amount), 2, "pages of page_size");
    assert!(
        fake.hits("/leerling?").len() >= 2,
        "the student list took two pages"
    );

    // New, corrected and removed grades; a result without a value yet is no grade.
    fake.with(|d| {
        d.dossiers.insert(
            "u-1".into(),
            dossier("wiskunde", &[("r-1", "T1", "5,8"), ("r-3", "T2", "6,5")]),
        );
        let mut u2 = dossier("wiskunde", &[("r-4", "T2", "x")]);
        u2[0]["periodes"][0]["resultaten"][0]
            .as_object_mut()
            .unwrap()
            .remove("geldend_resultaat");
        d.dossiers.insert("u-2".into(), u2);
    });
    let expected = vec![
        e("grade.entered", "u-1/r-1", "5,8"),
        e("grade.entered", "u-1/r-3", "6,5"),
        e("grade.withdrawn", "u-2/r-2", ""),
    ];
    wait_until("the changes", 30, || async {
        events(tmp.path()).await.len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // more rounds: nothing twice
    assert_eq!(events(tmp.path()).await, expected);

    // The token expires: one fresh token, and the polls go on.
    let issued = fake.with(|d| d.tokens_issued);
    fake.expire_token();
    fake.with(|d| {
        d.dossiers.insert(
            "u-1".into(),
            dossier("wiskunde", &[("r-1", "T1", "5,8"), ("r-3", "T2", "6,6")]),
        );
    });
    wait_until("the change after the expired token", 30, || async {
        events(tmp.path()).await.len() == 4
    })
    .await;
    assert_eq!(fake.with(|d| d.tokens_issued), issued + 1);
    assert!(fake
        .hits("voortgangsdossier")
        .iter()
        .any(|h| h.status == 401));

    // 429 with Retry-After: 2 — the next request waits at least that long.
    fake.with(|d| {
        d.faults.push_back((429, Some(2)));
        d.dossiers
            .insert("u-2".into(), dossier("wiskunde", &[("r-5", "T3", "8,0")]));
    });
    wait_until("the change after the 429", 30, || async {
        events(tmp.path()).await.len() == 5
    })
    .await;
    let hits = fake.with(|d| d.hits.clone());
    let limited = hits
        .iter()
        .position(|h| h.status == 429)
        .expect("a 429 was served");
    let gap = hits[limited + 1].at - hits[limited].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "waited only {gap:?} after Retry-After: 2"
    );

    // 5xx: retried with backoff; visible in the health meanwhile.
    fake.with(|d| {
        d.faults.extend([(503, None), (502, None)]);
        d.dossiers.insert(
            "u-2".into(),
            dossier("wiskunde", &[("r-5", "T3", "8,0"), ("r-6", "T4", "4,9")]),
        );
    });
    wait_until("the change after the 5xx", 30, || async {
        events(tmp.path()).await.len() == 6
    })
    .await;
    let err = health.snapshot().last_error.unwrap_or_default();
    assert!(err.contains("503") || err.contains("502"), "{err}");

    // A lesson moved: the timetable follows, and the pending grade of u-1 (r-3, 6,6) is now
    // released after the moved lesson.
    fake.with(|d| {
        let week = vec![les("wiskunde", 25, "13:00", "13:50")];
        d.rosters.insert("u-1".into(), week.clone());
        d.rosters.insert("u-2".into(), week);
    });
    wait_until("the moved lesson", 30, || async {
        directory(tmp.path())
            .await
            .is_some_and(|d| d["timetable"][0]["lessons"] == json!(["wed 13:00-13:50"]))
    })
    .await;
    wait_until("the re-planned notice", 30, || async {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT n.due_at FROM notices n JOIN events e ON e.id = n.event_id \
             WHERE n.record = 'u-1/r-3' AND n.role = 'student' AND n.state = 'pending' \
             AND e.body LIKE '%6,6%'",
        )
        .fetch_optional(&mut sis_fake::db(tmp.path()).await.unwrap())
        .await
        .unwrap();
        due.is_some_and(|ms| {
            let t = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .with_timezone(&chrono_tz::Europe::Amsterdam);
            t.weekday() == chrono::Weekday::Wed && (t.hour(), t.minute()) == (13, 50)
        })
    })
    .await;
    assert!(quarantine(tmp.path()).await.is_empty());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_spread_over_the_interval_not_burst() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    fake.with(|d| {
        d.students = (0..6)
            .map(|i| leerling(&format!("u-{i}"), 1000 + i, "Kind", "Test", "2a"))
            .collect();
    });
    let sources = format!(
        "[[ingest.somtoday]]\nschool = \"coornhert\"\n{}interval = \"3s\"\ntimetable = false\n",
        fake.somtoday_toml(&secret(tmp.path()))
    );
    let running = rustig::daemon::start(config(tmp.path(), &sources), Arc::new(SystemClock))
        .await
        .unwrap();
    wait_until("a round", 30, || async {
        fake.hits("voortgangsdossier").len() >= 6
    })
    .await;
    let hits = fake.hits("voortgangsdossier");
    let span = hits[5].at - hits[0].at;
    // Six students in 3 s: about 0.5 s apart, five gaps (±10 % jitter).
    assert!(
        span >= Duration::from_millis(2000),
        "six requests in {span:?}: a burst"
    );
    for w in hits[..6].windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_millis(300),
            "{:?}",
            w[1].at - w[0].at
        );
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_feed_names_the_students_to_read_and_is_optional() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    fake.with(|d| {
        d.students = vec![
            leerling("u-1", 1001, "Merel", "de Jong", "3c"),
            leerling("u-2", 1002, "Daan", "Bakker", "3c"),
        ];
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,4")]));
        d.dossiers
            .insert("u-2".into(), dossier("wiskunde", &[("r-2", "T1", "7,0")]));
        d.events = Some(vec![
            json!({"uuid": "e-1", "entiteit_uuid": "x", "event_categorie": "Lesgroep",
                                   "event_aard": "Updated", "index": 5, "url": "/lesgroep/x"}),
        ]);
    });
    let sources = format!(
        "[[ingest.somtoday]]\nschool = \"coornhert\"\n{}interval = \"1s\"\nstudents_interval = \"1h\"\n\
         events_feed = true\ntimetable = false\n",
        fake.somtoday_toml(&secret(tmp.path()))
    );
    let running = rustig::daemon::start(config(tmp.path(), &sources), Arc::new(SystemClock))
        .await
        .unwrap();
    wait_until("the sweep", 30, || async {
        scopes(tmp.path(), "somtoday").await == 2
    })
    .await;
    wait_until("the feed", 30, || async {
        !fake.hits("/events").is_empty()
    })
    .await;
    // Both change; only u-2 is named by the feed.
    fake.with(|d| {
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "9,9")]));
        d.dossiers
            .insert("u-2".into(), dossier("wiskunde", &[("r-2", "T1", "7,5")]));
        d.events
            .as_mut()
            .unwrap()
            .push(json!({"uuid": "e-2", "entiteit_uuid": "u-2",
            "event_categorie": "Leerling", "event_aard": "Updated", "index": 6,
            "url": "/connect/vestiging/v/leerling/u-2"}));
    });
    wait_until("u-2's change", 30, || async {
        events(tmp.path()).await.len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        events(tmp.path()).await,
        vec![e("grade.entered", "u-2/r-2", "7,5")],
        "u-1 waits for the sweep"
    );
    let cursor: Option<String> = sqlx::query_scalar(
        "SELECT cursor FROM sis_scopes WHERE source = 'somtoday' AND scope = '~events'",
    )
    .fetch_optional(&mut sis_fake::db(tmp.path()).await.unwrap())
    .await
    .unwrap()
    .flatten();
    assert_eq!(cursor.as_deref(), Some("6"));
    assert!(
        fake.hits("/events?")
            .iter()
            .any(|h| h.path.contains("index=5")),
        "resumed from the index"
    );
    running.shutdown().await;

    // A Connect without the feed (404): every student is polled as without it.
    let tmp = tempfile::tempdir().unwrap();
    fake.with(|d| {
        d.events = None;
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,4")]));
    });
    let running = rustig::daemon::start(config(tmp.path(), &sources), Arc::new(SystemClock))
        .await
        .unwrap();
    wait_until("the sweep", 30, || async {
        scopes(tmp.path(), "somtoday").await == 2
    })
    .await;
    wait_until("the fallback", 30, || async {
        fake.hits("/events").iter().any(|h| h.status == 404)
    })
    .await;
    fake.with(|d| {
        d.dossiers
            .insert("u-1".into(), dossier("wiskunde", &[("r-1", "T1", "5,5")]));
    });
    wait_until("u-1's change without the feed", 30, || async {
        events(tmp.path()).await.len() == 1
    })
    .await;
    running.shutdown().await;
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_of_smartschool_absences_comes_out_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start().await;
    let day = today().format("%Y-%m-%d").to_string();
    let yesterday = (today() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    fake.with(|d| {
        d.absences
            .insert(day.clone(), json!({"1001": {"am": "O", "pm": "|"}}));
        d.absences
            .insert(yesterday.clone(), json!({"1005": {"am": "L", "pm": "L"}}));
    });
    let code = tmp.path().join("accesscode");
    std::fs::write(&code, ACCESSCODE).unwrap();
    let sources = format!(
        "[[ingest.smartschool]]\nschool = \"coornhert\"\nurl = \"{}/Webservices/V3\"\n\
         accesscode_file = \"{}\"\ninterval = \"1s\"\ndays = 1\nignore = [\"|\", \"\"]\n\
         codes = {{ O = \"unauthorized\", Z = \"sick\", L = \"late\" }}\n",
        fake.url(),
        code.display()
    );
    let running = rustig::daemon::start(config(tmp.path(), &sources), Arc::new(SystemClock))
        .await
        .unwrap();
    let health = running
        .sources
        .iter()
        .find(|h| h.snapshot().name == "smartschool smartschool")
        .unwrap()
        .clone();
    wait_until("the baseline", 30, || async {
        scopes(tmp.path(), "smartschool").await == 1
    })
    .await;
    assert!(
        events(tmp.path()).await.is_empty(),
        "a baseline emits nothing"
    );

    // The office corrects "unauthorized" to "sick"; a new late arrival.
    fake.with(|d| {
        d.absences.insert(
            day.clone(),
            json!({"1001": {"am": "Z", "pm": "|"}, "1002": {"am": "L"}}),
        );
    });
    let r = |student: &str, part: &str| format!("smartschool/{day}/{student}/{part}");
    wait_until("the changes", 30, || async {
        events(tmp.path()).await.len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut expected = vec![
        e("absence.registered", &r("1001", "am"), "sick"),
        e("absence.registered", &r("1002", "am"), "late"),
    ];
    expected.sort();
    assert_eq!(events(tmp.path()).await, expected);

    // The late arrival is removed; an unknown code and yesterday's broken answer are
    // quarantined while today's changes go on.
    fake.with(|d| {
        d.absences.insert(
            day.clone(),
            json!({"1001": {"am": "Z", "pm": "|"}, "1003": {"am": "Q"}}),
        );
        d.broken_xml.insert(yesterday.clone());
    });
    wait_until("the withdrawal", 30, || async {
        events(tmp.path()).await.len() == 3
    })
    .await;
    wait_until("the quarantine", 30, || async {
        quarantine(tmp.path()).await.len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let q = quarantine(tmp.path()).await;
    assert_eq!(q.len(), 2, "once each: {q:?}");
    assert!(q.iter().all(|(s, _)| s == "smartschool"));
    assert!(
        q.iter().any(
            |(_, why)| why.contains(&format!("getAbsentsByDate {day} student 1003"))
                && why.contains("\"Q\"")
        ),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|(_, why)| why.contains(&format!("getAbsentsByDate {yesterday} line 3"))),
        "{q:?}"
    );
    let all = events(tmp.path()).await;
    assert!(
        all.contains(&e("absence.withdrawn", &r("1002", "am"), "")),
        "{all:?}"
    );
    // Yesterday could not be read: its late arrivals were not withdrawn.
    assert!(
        !all.iter().any(|(_, rec, _)| rec.contains("1005")),
        "{all:?}"
    );

    // A 503 is retried; the health shows it meanwhile.
    fake.with(|d| {
        d.broken_xml.clear();
        d.faults.push_back((503, None));
        d.absences.insert(
            day.clone(),
            json!({"1001": {"am": "Z", "pm": "L"}, "1003": {"am": "Q"}}),
        );
    });
    wait_until("the change after the 503", 30, || async {
        events(tmp.path()).await.len() == 4
    })
    .await;
    assert!(health
        .snapshot()
        .last_error
        .unwrap_or_default()
        .contains("503"));
    running.shutdown().await;
}
