//! The export watcher in a running daemon, with the example Magister mapping from config/:
//! a baseline emits nothing; new, corrected and removed grades come out once each; a file
//! written in place is read only when complete; a file in the wrong encoding is refused;
//! broken rows are quarantined with the source name and their line while the rest goes on.

mod sis_fake;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustig::clock::SystemClock;
use rustig::config::Config;
use sis_fake::{events, quarantine, wait_until};

const HEADER: &str =
    "Stamnr;Lesgroep;Vak;Periode;Kolom;Omschrijving;Cijfer;Weging;Soort;Ingevoerd op";

/// The example mapping, pointed at `folder`, polled every second.
fn config(tmp: &Path, folder: &Path) -> Config {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/export-magister-grades.example.toml"
    ))
    .unwrap()
    .replace("/srv/magister/export", &folder.display().to_string())
    .replace("interval = \"5m\"", "interval = \"1s\"")
    .replace("settle = \"30s\"", "settle = \"0s\"");
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n[email]\ntransport = \"file\"\ndir = \"{out}\"\n\
         from = \"School <noreply@school.example>\"\n[schools.coornhert]\nname = \"Coornhert\"\n\n{example}",
        db = tmp.join("rustig.db").display(),
        out = tmp.join("outbox").display(),
    );
    Config::parse(Path::new("test.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `rows` as a Windows-1252 export under a temporary name and renames it into place.
fn publish(folder: &Path, name: &str, rows: &[&str]) {
    let text = format!("{HEADER}\r\n{}\r\n", rows.join("\r\n"));
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let tmp = folder.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, folder.join(name)).unwrap();
}

/// The export's stored cursor (which file content was processed last).
async fn cursor(tmp: &Path) -> Option<String> {
    sqlx::query_scalar("SELECT cursor FROM sis_scopes WHERE source = 'magister-cijfers'")
        .fetch_optional(&mut sis_fake::db(tmp).await.unwrap())
        .await
        .unwrap()
        .flatten()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_become_events_once_and_broken_input_is_handled() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("export");
    std::fs::create_dir(&folder).unwrap();
    // The baseline: three grades the school had before rustig.
    publish(
        &folder,
        "cijfers-1.csv",
        &[
            "1001;3c.wi;wiskunde;1;T1;Toets H3;5,4;2;Toets;20-11-2026 21:14",
            "1001;3c.en;Engels;1;SO2;Vocabulaire;7,5;1;SO;20-11-2026 10:00",
            "1002;1a.bi;Biologie;1;PO1;Practicum;8,1;1;PO;19-11-2026 14:00",
        ],
    );
    let running = rustig::daemon::start(config(tmp.path(), &folder), Arc::new(SystemClock))
        .await
        .unwrap();
    let health = running
        .sources
        .iter()
        .find(|h| h.snapshot().name == "export magister-cijfers")
        .expect("the export source reports health")
        .clone();
    wait_until("the baseline", 30, || async {
        cursor(tmp.path()).await.is_some()
    })
    .await;
    assert!(
        events(tmp.path()).await.is_empty(),
        "a baseline emits nothing"
    );

    // A correction, a removal, a new grade (with a Windows-1252 "ë"), an unchanged row.
    publish(
        &folder,
        "cijfers-2.csv",
        &[
            "1001;3c.wi;wiskunde;1;T1;Toets H3;5,8;2;Toets;20-11-2026 21:14",
            "1002;1a.bi;Biologie;1;PO1;Practicum;8,1;1;PO;19-11-2026 14:00",
            "1002;1a.ak;Aardrijkskunde;1;T1;Toets België;6,9;1;Toets;24-11-2026 09:12",
        ],
    );
    wait_until("the second export", 30, || async {
        events(tmp.path()).await.len() == 3
    })
    .await;
    let mut got = events(tmp.path()).await;
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "grade.entered".into(),
                "1001/wiskunde/1/T1".into(),
                "5,8".into()
            ),
            (
                "grade.entered".into(),
                "1002/Aardrijkskunde/1/T1".into(),
                "6,9".into()
            ),
            (
                "grade.withdrawn".into(),
                "1001/Engels/1/SO2".into(),
                "".into()
            ),
        ]
    );
    let body: String =
        sqlx::query_scalar("SELECT body FROM events WHERE record = '1002/Aardrijkskunde/1/T1'")
            .fetch_one(&mut sis_fake::db(tmp.path()).await.unwrap())
            .await
            .unwrap();
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        e["grade"]["description"], "Toets België",
        "decoded from Windows-1252"
    );
    assert_eq!(e["grade"]["numeric"], 6.9, "decimal comma");
    assert_eq!(e["grade"]["kind"], "test");
    assert_eq!(e["grade"]["class"], "1a.ak");
    assert_eq!(
        e["occurred_at"], "2026-11-24T09:12:00+01:00",
        "entered at, in the school's zone"
    );

    // Written in place and cut off mid-line: not read, and the health says why.
    let third = format!(
        "{HEADER}\r\n1001;3c.wi;wiskunde;1;T1;Toets H3;5,8;2;Toets;20-11-2026 21:14\r\n\
         1002;1a.bi;Biologie;1;PO1;Practicum;8,1;1;PO;19-11-2026 14:00\r\n\
         1002;1a.ak;Aardrijkskunde;1;T1;Toets België;6,9;1;Toets;24-11-2026 09:12\r\n\
         1003;2b.ne;Nederlands;1;T2;Spelling;7,0;1;Toets;25-11-2026 12:00\r\n"
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&third);
    let cut = bytes.len() - 20;
    std::fs::write(folder.join("cijfers-3.csv"), &bytes[..cut]).unwrap();
    wait_until("the cut-off file to be noticed", 30, || async {
        health
            .snapshot()
            .last_error
            .is_some_and(|e| e.contains("cijfers-3.csv") && e.contains("line break"))
    })
    .await;
    assert_eq!(
        events(tmp.path()).await.len(),
        3,
        "a partial file is not read"
    );
    // Finished: read. The events are committed first and the file's cursor after them (a
    // crash in between reads the file again, and its events are known), so wait for both.
    std::fs::write(folder.join("cijfers-3.csv"), &bytes).unwrap();
    wait_until("the completed file", 30, || async {
        events(tmp.path()).await.len() == 4 && cursor(tmp.path()).await == Some(sha(&bytes))
    })
    .await;
    assert_eq!(events(tmp.path()).await.len(), 4);
    assert_eq!(cursor(tmp.path()).await, Some(sha(&bytes)));

    // The same export in UTF-8 while the mapping says Windows-1252: refused, not misread.
    let fourth = third.replace("7,0", "7,2");
    std::fs::write(folder.join(".cijfers-4.csv.tmp"), fourth.as_bytes()).unwrap();
    std::fs::rename(
        folder.join(".cijfers-4.csv.tmp"),
        folder.join("cijfers-4.csv"),
    )
    .unwrap();
    wait_until("the UTF-8 file to be refused", 30, || async {
        health
            .snapshot()
            .last_error
            .is_some_and(|e| e.contains("cijfers-4.csv") && e.contains("looks like UTF-8"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events(tmp.path()).await.len(), 4);

    // Broken rows: an unknown kind, a missing field, a row with too many fields. They are
    // quarantined with the source and line; the good rows of the file still count.
    publish(
        &folder,
        "cijfers-5.csv",
        &[
            "1001;3c.wi;wiskunde;1;T1;Toets H3;5,8;2;Toets;20-11-2026 21:14",
            "1002;1a.bi;Biologie;1;PO1;Practicum;8,1;1;Werkstuk;19-11-2026 14:00",
            "1002;1a.ak;Aardrijkskunde;1;T1;Toets België;6,9;1;Toets;24-11-2026 09:12",
            "1003;2b.ne;Nederlands;1;T2;Spelling;7,2;1;Toets;25-11-2026 12:00;extra",
            "1004;;Frans;1;T1;Dictee;6,0;1;Toets;26-11-2026 12:00",
            "1005;4a.gs;Geschiedenis;1;T1;Hoofdstuk 1;8,8;1;Toets;26-11-2026 13:00",
        ],
    );
    wait_until("the export with broken rows", 30, || async {
        quarantine(tmp.path()).await.len() == 3
    })
    .await;
    let q = quarantine(tmp.path()).await;
    assert!(
        q.iter().all(|(source, _)| source == "magister-cijfers"),
        "{q:?}"
    );
    let reasons: Vec<&str> = q.iter().map(|(_, r)| r.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("cijfers-5.csv line 3") && r.contains("Werkstuk")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("cijfers-5.csv line 5") && r.contains("11 fields")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("Lesgroep: cijfers-5.csv line 6")),
        "{reasons:?}"
    );
    wait_until("the good rows of that export", 30, || async {
        events(tmp.path())
            .await
            .iter()
            .any(|(_, r, _)| r == "1005/Geschiedenis/1/T1")
    })
    .await;
    let all = events(tmp.path()).await;
    // The broken Biologie and Nederlands rows are not withdrawals: their last good values stay.
    assert!(
        !all.iter()
            .any(|(t, r, _)| t == "grade.withdrawn" && r.contains("Biologie")),
        "{all:?}"
    );
    assert!(
        !all.iter()
            .any(|(t, r, _)| t == "grade.withdrawn" && r.contains("Nederlands")),
        "{all:?}"
    );
    assert_eq!(all.len(), 5, "{all:?}");

    // The same broken rows in the next export (with one grade changed): not quarantined
    // again; the change comes through.
    let mut sixth: Vec<u8> = std::fs::read(folder.join("cijfers-5.csv")).unwrap();
    let at = sixth.windows(3).position(|w| w == b"8,8").unwrap();
    sixth[at..at + 3].copy_from_slice(b"9,0");
    let n = quarantine(tmp.path()).await.len();
    std::fs::write(folder.join(".x.tmp"), &sixth).unwrap();
    std::fs::rename(folder.join(".x.tmp"), folder.join("cijfers-6.csv")).unwrap();
    wait_until("the sixth export", 30, || async {
        events(tmp.path()).await.len() == 6
    })
    .await;
    assert_eq!(quarantine(tmp.path()).await.len(), n);
    running.shutdown().await;
}

/// Serves `body` at /export/cijfers.csv to requests with the bearer token "t0k".
async fn serve_export(body: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> std::net::SocketAddr {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/export/cijfers.csv",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer t0k")
                {
                    return (StatusCode::UNAUTHORIZED, Vec::new());
                }
                (StatusCode::OK, body.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_downloaded_with_a_token_and_the_directory_from_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("export");
    std::fs::create_dir(&folder).unwrap();
    let rows = |value: &str| {
        let text = format!(
            "{HEADER}\r\n1001;3c;wiskunde;1;T1;Toets H3;{value};2;Toets;20-11-2026 21:14\r\n"
        );
        encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
    };
    let body = std::sync::Arc::new(std::sync::Mutex::new(rows("5,4")));
    let addr = serve_export(body.clone()).await;
    let token = tmp.path().join("export.token");
    std::fs::write(&token, "t0k\n").unwrap();
    // Students with their guardians, and lessons, as exports.
    std::fs::write(
        folder.join("leerlingen.csv"),
        encoding_rs::WINDOWS_1252
            .encode(
                "Stamnr;Roepnaam;Tussenvoegsel;Achternaam;Geboortedatum;Klas;E-mail;Ouder-id;Naam ouder;E-mail ouder\r\n\
                 1001;Merel;de;Jong;14-03-2011;3c;merel@leerling.example;g1;Anna de Jong;anna@example.nl\r\n\
                 1001;Merel;de;Jong;14-03-2011;3c;merel@leerling.example;g2;Peter Jansen;peter@example.com\r\n\
                 1002;Daniël;;Bakker;02-09-2013;1a;;;;\r\n",
            )
            .0,
    )
    .unwrap();
    std::fs::write(
        folder.join("rooster.csv"),
        "Lesgroep;Vak;Dag;Begin;Einde\r\n3c;wiskunde;ma;10:15;11:05\r\n3c;wiskunde;do;08:30;09:20\r\n",
    )
    .unwrap();
    let directory = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/export-magister-directory.example.toml"
    ))
    .unwrap()
    .replace("/srv/magister/export", &folder.display().to_string())
    .replace("interval = \"1h\"", "interval = \"1s\"")
    .replace("settle = \"30s\"", "settle = \"0s\"")
    .replace(
        "[directory.export.timetable]\n",
        "[directory.export.timetable]\nsettle = \"0s\"\n",
    );
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n[email]\ntransport = \"file\"\ndir = \"{out}\"\n\
         from = \"School <noreply@school.example>\"\n[grades]\nclassroom_first = \"next_lesson\"\n\
         [schools.coornhert]\nname = \"Coornhert\"\n\n\
         [[ingest.export]]\nname = \"download\"\nschool = \"coornhert\"\nkind = \"grades\"\n\
         url = \"http://{addr}/export/cijfers.csv\"\ntoken_file = \"{token}\"\ninterval = \"1s\"\n\
         delimiter = \";\"\nencoding = \"windows-1252\"\ndecimal_comma = true\ndefault_kind = \"test\"\n\
         columns = {{ record = [\"Stamnr\", \"Vak\", \"Kolom\"], student = \"Stamnr\", class = \"Lesgroep\", subject = \"Vak\", value = \"Cijfer\" }}\n\n\
         {directory}",
        db = tmp.path().join("rustig.db").display(),
        out = tmp.path().join("outbox").display(),
        token = token.display(),
    );
    let config = Config::parse(Path::new("test.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let running = rustig::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();

    // The directory: two students, Merel with both guardians, and the lessons of 3c.
    wait_until("the directory", 30, || async {
        let d = running.shared.listed_directory();
        d.len() == 2 && d.lessons("coornhert", "3c", "wiskunde").is_some()
    })
    .await;
    let d = running.shared.listed_directory();
    let merel = d.student("coornhert", "1001").unwrap();
    assert_eq!(merel.name, "Merel de Jong");
    assert_eq!(merel.guardians.len(), 2);
    assert_eq!(
        d.student("coornhert", "1002").unwrap().name,
        "Daniël Bakker"
    );
    let lessons: Vec<String> = d
        .lessons("coornhert", "3c", "wiskunde")
        .unwrap()
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(lessons, ["mon 10:15-11:05", "thu 08:30-09:20"]);

    // The download: a baseline, then a correction.
    wait_until("the downloaded baseline", 30, || async {
        let Some(mut c) = sis_fake::db(tmp.path()).await else {
            return false;
        };
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sis_scopes WHERE source = 'download'")
            .fetch_one(&mut c)
            .await
            .unwrap_or(0)
            == 1
    })
    .await;
    assert!(events(tmp.path()).await.is_empty());
    *body.lock().unwrap() = rows("5,8");
    wait_until("the downloaded correction", 30, || async {
        events(tmp.path()).await.len() == 1
    })
    .await;
    assert_eq!(
        events(tmp.path()).await,
        vec![(
            "grade.entered".to_string(),
            "1001/wiskunde/T1".to_string(),
            "5,8".to_string()
        )]
    );
    // The notice is planned for the directory's Merel, after her next wiskunde lesson.
    let due: i64 = sqlx::query_scalar(
        "SELECT due_at FROM notices WHERE record = '1001/wiskunde/T1' AND role = 'student'",
    )
    .fetch_one(&mut sis_fake::db(tmp.path()).await.unwrap())
    .await
    .unwrap();
    let due = chrono::DateTime::from_timestamp_millis(due)
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Amsterdam);
    assert!(
        [
            (chrono::Weekday::Mon, "11:05"),
            (chrono::Weekday::Thu, "09:20")
        ]
        .contains(&(
            chrono::Datelike::weekday(&due),
            due.format("%H:%M").to_string().as_str()
        )),
        "{due}"
    );
    running.shutdown().await;
}
