//! What the SIS pollers cost (`cargo bench --bench sis`; BENCHMARKS.md holds the figures).
//!
//! 1. A 100 000-row grade export (Windows-1252, ';', decimal comma) with 1 % of its grades
//!    changed: decode + parse + map + diff, alone and as a whole poll on SQLite (snapshot
//!    read, events committed, snapshot written).
//! 2. A 2 000-student SOMtoday school: `rustig run` (built with the bench profile) polls a
//!    local Connect fake; one round is compressed into `--round` seconds (default 60) and the
//!    child's CPU time and memory are read from /proc. The CPU share at the default 15-minute
//!    interval is the round's CPU time over 900 s.
//!
//! Options: `--students N` (2000), `--round SECONDS` (60), `--rows N` (100000), `--only
//! export|somtoday`.

#[path = "../tests/sis_fake/mod.rs"]
mod sis_fake;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rustig::clock::ManualClock;
use rustig::config::sis::ExportConfig;
use rustig::config::Config;
use rustig::ingest::{Ingestor, Shared};
use rustig::model::Directory;
use rustig::source::export::{mapping, table};
use rustig::source::health::SourceHealth;
use rustig::source::poll::commit::Committer;
use rustig::source::poll::diff::{diff, DiffInput, Verdict};
use rustig::source::poll::Fetched;

struct Args {
    students: usize,
    round: u64,
    rows: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        students: 2000,
        round: 60,
        rows: 100_000,
        only: None,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--students" => a.students = next.parse().expect("--students N"),
            "--round" => a.round = next.parse().expect("--round SECONDS"),
            "--rows" => a.rows = next.parse().expect("--rows N"),
            "--only" => a.only = Some(next),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if a.only.as_deref() != Some("somtoday") {
            export(a.rows).await;
        }
        if a.only.as_deref() != Some("export") {
            somtoday(a.students, a.round).await;
        }
    });
}

/// Ten subjects, three results each per student.
const VAKKEN: [&str; 10] = [
    "wiskunde",
    "Engels",
    "Nederlands",
    "biologie",
    "geschiedenis",
    "Frans",
    "aardrijkskunde",
    "economie",
    "natuurkunde",
    "scheikunde",
];

const HEADER: &str =
    "Stamnr;Lesgroep;Vak;Periode;Kolom;Omschrijving;Cijfer;Weging;Soort;Ingevoerd op";

/// `rows` grades; every 100th one changed when `changed`.
fn export_file(rows: usize, changed: bool) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 80);
    text.push_str(HEADER);
    text.push_str("\r\n");
    for i in 0..rows {
        let student = 100_000 + i / 30;
        let vak = VAKKEN[i % 10];
        let kolom = i / 10 % 3;
        let base = 40 + (i * 7) % 60;
        let value = if changed && i % 100 == 0 {
            base + 1
        } else {
            base
        };
        text.push_str(&format!(
            "{student};3c.{vak};{vak};1;T{kolom};Toets hoofdstuk {kolom} – ë;{},{};2;Toets;20-11-2026 21:14\r\n",
            value / 10,
            value % 10
        ));
    }
    encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
}

fn export_config() -> (Config, ExportConfig) {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/export-magister-grades.example.toml"
    ))
    .unwrap();
    let text = format!("[schools.coornhert]\nname = \"C\"\n{example}");
    let config = Config::parse(Path::new("bench.toml"), &text).unwrap();
    let export = config.sis.export[0].clone();
    (config, export)
}

async fn export(rows: usize) {
    let (config, cfg) = export_config();
    let tz = chrono_tz::Europe::Amsterdam;
    let first = export_file(rows, false);
    let second = export_file(rows, true);
    let fetched = |bytes: &[u8]| {
        let t = table::read("cijfers.csv", bytes, &cfg.file.csv, &cfg.columns).unwrap();
        let (items, bad) = mapping::items(&cfg, tz, "cijfers.csv", t);
        Fetched {
            items,
            bad,
            ..Fetched::default()
        }
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let input = DiffInput {
        source: "magister-cijfers",
        school: "coornhert",
        scope: "export",
        now,
        baseline: true,
        withdraw_limit: 0.5,
    };
    let Verdict::Apply(base) = diff(None, fetched(&first), &input) else {
        panic!()
    };
    let old = rustig::source::poll::diff::apply(None, &base.change);

    // Pure: bytes → table → items → diff.
    let mut pure = Vec::new();
    let mut events = 0;
    for _ in 0..3 {
        let t0 = Instant::now();
        let f = fetched(&second);
        let Verdict::Apply(d) = diff(Some(&old), f, &input) else {
            panic!()
        };
        pure.push(t0.elapsed());
        events = d.events.len();
    }
    pure.sort();

    // A whole poll on SQLite: snapshot read, diff, 1 000 events committed, snapshot written.
    let tmp = tempfile::tempdir().unwrap();
    let store = rustig::store::open(&format!("sqlite://{}/bench.db", tmp.path().display()))
        .await
        .unwrap();
    let shared = Shared::new(config, Directory::default());
    let clock = Arc::new(ManualClock::new(now));
    let c = Committer {
        source: "magister-cijfers".into(),
        school: "coornhert".into(),
        baseline: true,
        withdraw_limit: 0.5,
        ingestor: Arc::new(Ingestor::new(store.clone(), shared)),
        store: store.clone(),
        clock: clock.clone(),
        health: SourceHealth::new("bench"),
    };
    let t0 = Instant::now();
    c.commit("export", fetched(&first)).await.unwrap();
    let baseline = t0.elapsed();
    clock.advance(chrono::Duration::minutes(5));
    let t0 = Instant::now();
    let counts = c.commit("export", fetched(&second)).await.unwrap();
    let changed = t0.elapsed();
    clock.advance(chrono::Duration::minutes(5));
    let t0 = Instant::now();
    let same = c.commit("export", fetched(&second)).await.unwrap();
    let unchanged = t0.elapsed();
    assert_eq!(counts.changed, events);
    assert_eq!(same.events(), 0);

    println!(
        "## Export diff, {rows} rows ({:.1} MB, Windows-1252)\n",
        second.len() as f64 / 1e6
    );
    println!("| step | time |\n|---|---|");
    println!(
        "| decode + parse + map + diff (median of 3; {events} changed) | {:.0} ms |",
        pure[1].as_secs_f64() * 1e3
    );
    println!(
        "| whole poll on SQLite, baseline (snapshot of {rows} rows written) | {:.0} ms |",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "| whole poll on SQLite, {events} changed (events + snapshot committed) | {:.0} ms |",
        changed.as_secs_f64() * 1e3
    );
    println!(
        "| whole poll on SQLite, nothing changed | {:.0} ms |\n",
        unchanged.as_secs_f64() * 1e3
    );
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// VmRSS and VmHWM of a process, in MB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// The binary built with the bench profile (optimized, as released).
fn binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_rustig").into()
}

fn daemon_config(dir: &Path, http: u16, extra: Option<String>) -> std::path::PathBuf {
    let text = format!(
        "[store]\nurl = \"sqlite://{db}\"\n[ingest.http]\nlisten = \"127.0.0.1:{http}\"\n\
         [email]\ntransport = \"file\"\ndir = \"{out}\"\nfrom = \"School <noreply@school.example>\"\n\
         [schools.coornhert]\nname = \"C\"\n\n{}",
        extra.unwrap_or_default(),
        db = dir.join("rustig.db").display(),
        out = dir.join("outbox").display(),
    );
    let p = dir.join("rustig.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_http(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rustig did not start");
}

async fn somtoday(students: usize, round: u64) {
    let fake = sis_fake::Fake::start().await;
    fake.with(|d| {
        for i in 0..students {
            let uuid = format!("00000000-0000-4000-8000-{i:012}");
            d.students.push(sis_fake::leerling(
                &uuid,
                100_000 + i as i64,
                "Kind",
                "Test",
                &format!("{}{}", 1 + i % 6, ["a", "b", "c", "d"][i % 4]),
            ));
            d.guardians.push(sis_fake::verzorger(&uuid));
            let mut dossiers = Vec::new();
            for (v, vak) in VAKKEN.iter().enumerate() {
                let results: Vec<(String, String, String)> = (0..3)
                    .map(|k| {
                        (
                            format!("{uuid}-{v}-{k}"),
                            format!("T{k}"),
                            format!("{},{}", 5 + (i + k) % 4, (i * 7 + v) % 10),
                        )
                    })
                    .collect();
                let refs: Vec<(&str, &str, &str)> = results
                    .iter()
                    .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                    .collect();
                dossiers.push(sis_fake::dossier(vak, &refs)[0].clone());
            }
            d.dossiers
                .insert(uuid.clone(), serde_json::Value::Array(dossiers));
            d.rosters.insert(
                uuid,
                VAKKEN
                    .iter()
                    .enumerate()
                    .map(|(v, vak)| sis_fake::les(vak, 23 + (v % 5) as u32, "10:15", "11:05"))
                    .collect(),
            );
        }
    });

    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, sis_fake::SECRET).unwrap();
    let table = format!(
        "[[ingest.somtoday]]\nschool = \"coornhert\"\n{}interval = \"{round}s\"\nstudents_interval = \"6h\"\n\
         timetable = true\ndirectory = true\n",
        fake.somtoday_toml(&secret)
    );
    let http = free_port();
    let mut child = std::process::Command::new(binary())
        .args(["run", "--config"])
        .arg(daemon_config(tmp.path(), http, Some(table)))
        .env("RUSTIG_LOG", "warn")
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_http(http).await;
    let started = Instant::now();
    let polls = || fake.hits("voortgangsdossier").len();
    let cpu0 = cpu_seconds(pid);
    while polls() < students {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = (started.elapsed(), cpu_seconds(pid) - cpu0);
    // Round 2: 5 % of the students got a new grade.
    fake.with(|d| {
        for i in (0..students).step_by(20) {
            let uuid = format!("00000000-0000-4000-8000-{i:012}");
            let list = d.dossiers.get_mut(&uuid).unwrap();
            list[0]["periodes"][0]["resultaten"].as_array_mut().unwrap().push(serde_json::json!({
                "uuid": format!("{uuid}-new"), "code": "T9", "toetsType": "TOETS", "weging": 1, "geldend_resultaat": "7,1"
            }));
        }
    });
    let (t1, c1) = (Instant::now(), cpu_seconds(pid));
    while polls() < 2 * students {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let second = (t1.elapsed(), cpu_seconds(pid) - c1);
    let (t2, c2) = (Instant::now(), cpu_seconds(pid));
    while polls() < 3 * students {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let third = (t2.elapsed(), cpu_seconds(pid) - c2);
    let (rss, hwm) = memory(pid);
    let _ = child.kill();
    let _ = child.wait();

    // The same daemon without a SIS source but with the same directory (as a file), for the
    // memory it needs anyway.
    let directory = tmp.path().join("directory.json");
    {
        let url = format!("sqlite://{}/rustig.db?mode=ro", tmp.path().display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let body: String = sqlx::query_scalar("SELECT body FROM directory WHERE id = 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        std::fs::write(&directory, body).unwrap();
    }
    let plain = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut child = std::process::Command::new(binary())
        .args(["run", "--config"])
        .arg(daemon_config(
            plain.path(),
            http,
            Some(format!("[directory]\nfile = \"{}\"\n", directory.display())),
        ))
        .env("RUSTIG_LOG", "warn")
        .spawn()
        .unwrap();
    wait_http(http).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (plain_rss, plain_hwm) = memory(child.id());
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "## SOMtoday, {students} students, 30 results each, one round in {round} s ({})\n",
        binary().display()
    );
    println!("| round | wall | CPU | CPU share in the round | CPU share at 15 min |\n|---|---|---|---|---|");
    for (name, (wall, cpu)) in [
        ("1: baseline, rooster ×2, student list, guardians", first),
        ("2: 5 % with a new grade", second),
        ("3: nothing changed", third),
    ] {
        println!(
            "| {name} | {:.1} s | {:.2} s | {:.1} % | {:.2} % |",
            wall.as_secs_f64(),
            cpu,
            100.0 * cpu / wall.as_secs_f64(),
            100.0 * cpu / 900.0
        );
    }
    println!(
        "\nMemory: RSS {rss:.1} MB (peak {hwm:.1} MB) polling, against {plain_rss:.1} MB (peak {plain_hwm:.1} MB) for the same daemon without a SIS source holding the same directory: +{:.1} MB (peak +{:.1} MB).",
        rss - plain_rss,
        hwm - plain_hwm
    );
}
