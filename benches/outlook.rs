//! What the dashboard's outlook costs on a large school (`cargo bench --bench outlook`;
//! BENCHMARKS.md, "Dashboard"): `GET /v1/week`, `GET /v1/week/bar` and `GET /v1/calm` over
//! HTTP from the admin listener, as an operator's browser asks them.
//!
//! A store (SQLite as the daemon runs it, or `--store postgres://…`) holds a school of
//! `--students` students (default 2 000, the bench population: one or two guardians each)
//! with `--pending` events waiting (default 40 000; a notice to the student and each
//! guardian, due at the school's digest moments over the coming week, a few beyond it) and
//! `--sent` events of the past week already delivered (default 20 000). Printed: each
//! route's time (median and slowest of `--runs`, default 5) and the size of its answer.
//!
//! Options: `--students N`, `--pending N`, `--sent N`, `--runs N`, `--store URL` (an empty
//! database or schema), `--max-ms N` (exit 1 when the week view's slowest run is slower).
//!
//! `cargo test` runs it too (`test = true`), small: 200 students, 4 000 + 2 000 events, one
//! run, checking the answers (no time limit: figures are for benches); `cargo bench` passes
//! `--bench` and gets the full size.

// As the `rustig` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rustig::admin::{AdminServer, AdminState};
use rustig::clock::ManualClock;
use rustig::config::Config;
use rustig::model::{ChannelKind, Directory, Event, Role};
use rustig::policy::{Notice, NoticeKind, Reason, Rule};
use rustig::store::{Outcome, Store};

fn arg(name: &str) -> Option<String> {
    let v: Vec<String> = std::env::args().collect();
    v.iter()
        .position(|a| a == name)
        .and_then(|i| v.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Monday of a school week, 09:30: the week view's `now`.
const NOW: &str = "2026-11-23T09:30:00+01:00";
const SCHOOL: &str = rustig_bench::workload::SCHOOL;

fn event(i: usize, student: usize, class: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"e-{i}","type":"grade.entered","school":"{SCHOOL}","occurred_at":"2026-11-20T10:00:00+01:00","record":"r-{i}","student":"s-{student}","grade":{{"assessment":"a-{i}","subject":"wiskunde","class":"{class}","description":"Toets hoofdstuk 3","value":"6,8","kind":"test"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// The notices of an event: the student's at `due`, each guardian's at the next day's 17:00
/// digest, with the reason chains the planner writes for them.
fn notices(e: &Event, guardians: &[String], due: DateTime<Utc>) -> Vec<Notice> {
    let tz = chrono_tz::Europe::Amsterdam;
    let next = due.with_timezone(&tz).date_naive() + Duration::days(1);
    let digest = rustig::policy::calendar::resolve_local(tz, next.and_hms_opt(17, 0, 0).unwrap());
    let entered = e.occurred_utc();
    let mut out = Vec::new();
    let mut push = |recipient: &str, role: Role, due: DateTime<Utc>, rules: &[Rule]| {
        let mut reasons = vec![Reason::moved(Rule::Entered, entered, entered, "")];
        let mut t = entered;
        for (k, rule) in rules.iter().enumerate() {
            let to = if k + 1 == rules.len() {
                due
            } else {
                t + Duration::hours(1)
            };
            reasons.push(Reason::moved(
                *rule,
                t,
                to,
                "waits for release of \"Toets hoofdstuk 3\"",
            ));
            t = to;
        }
        out.push(Notice {
            key: format!("{}-{recipient}", e.id),
            school: e.school.clone(),
            record: e.record.clone(),
            event_id: e.id.clone(),
            student: e.student().unwrap().into(),
            recipient: recipient.into(),
            role,
            channel: ChannelKind::Email,
            kind: NoticeKind::Grade,
            due_at: due,
            reasons,
            release_key: None,
        });
    };
    push(
        e.student().unwrap(),
        Role::Student,
        due,
        &[Rule::ClassroomRelease],
    );
    for g in guardians {
        push(
            g,
            Role::Guardian,
            digest,
            &[
                Rule::ClassroomRelease,
                Rule::GuardianDelay,
                Rule::DigestSlot,
            ],
        );
    }
    out
}

/// Stores `n` events from `first` and their notices, `due` choosing each one's due time.
async fn fill(
    store: &dyn Store,
    dir: &Directory,
    first: usize,
    n: usize,
    students: usize,
    mut due: impl FnMut(usize) -> DateTime<Utc>,
) {
    let t0 = at("2026-11-20T10:00:00+01:00");
    for chunk in (first..first + n).collect::<Vec<_>>().chunks(2000) {
        let events: Vec<Event> = chunk
            .iter()
            .map(|&i| {
                let s = i % students;
                let class = dir
                    .student(SCHOOL, &format!("s-{s}"))
                    .map(|st| st.class.clone())
                    .unwrap_or_default();
                event(i, s, &class)
            })
            .collect();
        let mut tx = store.begin().await.unwrap();
        tx.insert_events(&events.iter().collect::<Vec<_>>(), t0)
            .await
            .unwrap();
        let mut all = Vec::new();
        let mut keys = Vec::new();
        for (e, &i) in events.iter().zip(chunk) {
            let student = dir.student(SCHOOL, e.student().unwrap()).unwrap();
            let guardians: Vec<String> = student.guardians.iter().map(|g| g.id.clone()).collect();
            all.extend(notices(e, &guardians, due(i)));
            keys.push((e.school.clone(), e.record.clone()));
        }
        tx.replace_pending_of(&keys, &all).await.unwrap();
        tx.commit().await.unwrap();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = |n: usize| if full { n } else { n / 10 };
    let students = num("--students", scale(2_000));
    let pending = num("--pending", scale(40_000));
    let sent = num("--sent", scale(20_000));
    let runs = num("--runs", if full { 5 } else { 1 }).max(1);
    // Only when asked: under `cargo test` the small run checks the answers, not the clock.
    let max_ms = arg("--max-ms").and_then(|v| v.parse::<u128>().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url =
        arg("--store").unwrap_or_else(|| format!("sqlite://{}/outlook.db", tmp.path().display()));
    let now = at(NOW);
    let workload = rustig_bench::workload::generate(students, students, 1000, now);
    let dir = Directory::parse(workload.directory_json.as_bytes()).unwrap();
    let guardians: usize = dir
        .data()
        .students
        .iter()
        .filter(|s| s.school == SCHOOL)
        .map(|s| s.guardians.len())
        .sum();
    let text = format!(
        "timezone = \"Europe/Amsterdam\"\n[store]\nurl = \"{url}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [email]\ntransport = \"file\"\ndir = \"{}/outbox\"\nfrom = \"Bench <noreply@bench.example>\"\n\
         [quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n[weekend]\nfrom = \"fri 18:00\"\nuntil = \"mon 07:00\"\n\
         [grades]\nclassroom_first = \"release\"\n[digest]\nstudents = \"immediate\"\nguardians = \"0 17 * * mon-fri\"\n\
         [schools.{SCHOOL}]\nname = \"Bench College\"\n",
        tmp.path().display()
    );
    let config = Config::parse(std::path::Path::new("outlook-bench.toml"), &text).unwrap();
    rt.block_on(async move {
        let store = rustig::store::open(&url).await.unwrap();
        let started = Instant::now();
        // Past week: delivered at school hours (Monday to Friday of week 47).
        let week47 = at("2026-11-16T08:00:00+01:00");
        let mut rng = Rng(47);
        fill(&*store, &dir, 0, sent, students, |_| {
            week47 + Duration::days(rng.below(4) as i64) + Duration::minutes(rng.below(480) as i64)
        })
        .await;
        // Sent as the release would: one message per recipient, at its last notice's time.
        let claimed = store
            .claim_due(now, now + Duration::hours(1), 1_000_000)
            .await
            .unwrap();
        let mut messages: std::collections::BTreeMap<String, (Vec<i64>, DateTime<Utc>)> =
            Default::default();
        for n in &claimed {
            let m = messages
                .entry(n.message_key.clone().unwrap())
                .or_insert((vec![], n.due_at));
            m.0.push(n.id);
            m.1 = m.1.max(n.due_at);
        }
        let outcomes: Vec<(Vec<i64>, Outcome)> = messages
            .into_iter()
            .map(|(message_key, (ids, at))| (ids, Outcome::Sent { message_key, at }))
            .collect();
        for chunk in outcomes.chunks(2000) {
            store.finish(chunk).await.unwrap();
        }
        // The coming week: the students' at lesson ends (09:00–16:00, Monday to Thursday, and
        // next Monday, beyond the week), the guardians' at the next day's 17:00 digest.
        let mut rng = Rng(48);
        fill(&*store, &dir, sent, pending, students, |_| {
            let day = [0, 1, 2, 3, 7][rng.below(5) as usize];
            at("2026-11-23T09:00:00+01:00") + Duration::days(day) + Duration::hours(rng.below(8) as i64)
        })
        .await;
        let counts = store.counts().await.unwrap();
        println!(
            "outlook bench: {students} students, {guardians} guardians; {} pending and {} sent notices \
             ({pending} + {sent} events) in {} (filled in {:.1} s)",
            counts.pending,
            counts.sent,
            if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" },
            started.elapsed().as_secs_f64()
        );

        let dir_for_steps = Directory::parse(workload.directory_json.as_bytes()).unwrap();
        let shared = rustig::shared::Shared::new(config.clone(), dir);
        let clock = Arc::new(ManualClock::new(now));
        let state = AdminState::new(store.clone(), shared, clock);
        let server = AdminServer::bind(config.admin.as_ref().unwrap(), state, rustig::admin::no_pages)
            .await
            .unwrap();
        let base = format!("http://{}", server.local_addr());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn(server.serve(stop_rx));
        let client = reqwest::Client::new();
        let mut week_worst = 0;
        for (name, path) in [
            ("GET /v1/week", format!("/v1/week?school={SCHOOL}")),
            (
                "GET /v1/week/bar (Tuesday 17:00, 1 000 of them)",
                format!("/v1/week/bar?school={SCHOOL}&hour=2026-11-24T17:00:00%2B01:00&limit=1000"),
            ),
            ("GET /v1/calm (last week)", format!("/v1/calm?school={SCHOOL}&week=2026-W47")),
        ] {
            let mut times = Vec::new();
            let mut bytes = 0;
            let mut body = serde_json::Value::Null;
            for _ in 0..runs {
                let t = Instant::now();
                let r = client.get(format!("{base}{path}")).send().await.unwrap();
                assert_eq!(r.status(), 200, "{path}");
                let b = r.bytes().await.unwrap();
                times.push(t.elapsed());
                bytes = b.len();
                body = serde_json::from_slice(&b).unwrap();
            }
            times.sort();
            let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;
            println!(
                "{name}: median {:.0} ms, slowest {:.0} ms ({runs} runs), {:.0} KiB",
                ms(times[times.len() / 2]),
                ms(*times.last().unwrap()),
                bytes as f64 / 1024.0
            );
            if path.starts_with("/v1/week?") {
                week_worst = times.last().unwrap().as_millis();
                let bars: u64 = body["bars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["total"].as_u64().unwrap())
                    .sum();
                println!(
                    "  {} bars holding {bars} notices, {} beyond, {} overdue, {} blackouts",
                    body["bars"].as_array().unwrap().len(),
                    body["beyond"],
                    body["overdue"],
                    body["blackouts"].as_array().unwrap().len()
                );
            } else if path.starts_with("/v1/calm") {
                println!(
                    "  {} messages, {} families, per family median {} p90 {}",
                    body["messages"], body["families"], body["per_family_median"], body["per_family_p90"]
                );
            }
        }
        // Where the week view's time goes, each step once.
        let t = Instant::now();
        let mut items = store.outlook().pending_items(SCHOOL).await.unwrap();
        let read = t.elapsed();
        let t = Instant::now();
        rustig::outlook::week::with_classes(&mut items, &dir_for_steps);
        let classes = t.elapsed();
        let t = Instant::now();
        let week = rustig::outlook::week_ahead(&config, SCHOOL, now, &items);
        let counted = t.elapsed();
        println!(
            "  the week view's steps: the store's list {:.0} ms ({} notices), classes {:.0} ms, \
             bars and blackouts {:.0} ms ({} bars)",
            read.as_secs_f64() * 1000.0,
            items.len(),
            classes.as_secs_f64() * 1000.0,
            counted.as_secs_f64() * 1000.0,
            week.bars.len()
        );
        let _ = stop_tx.send(true);
        let _ = serving.await;
        if let Some(max) = max_ms {
            if week_worst > max {
                eprintln!("the week view took {week_worst} ms, more than --max-ms {max}");
                std::process::exit(1);
            }
        }
    });
}
