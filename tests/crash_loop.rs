//! The crash loop (issue 11): rustig binaries fed over HTTP by a client that retries anything
//! without a 202 with the same event ids, SIGKILLed at random moments during ingest and
//! release and started again, round after round; a real SMTP relay (sometimes slow) records
//! every Message-ID and the events each message carries. Bundled recipients (guardians of two
//! children, several grades at once) and restarts after the lease are among the cases.
//!
//! Asserts: every acknowledged event reached every recipient it was planned for; no notice
//! (event, recipient) went out in two messages with different keys, and a key always carries
//! the same events; nothing was delivered that was not posted.
//!
//! SQLite runs one instance; PostgreSQL two on one database. `RUSTIG_CRASH_ROUNDS` sets the
//! rounds per store (default 4), `RUSTIG_CRASH_SEED` the seed (printed on every run):
//!
//!     RUSTIG_CRASH_ROUNDS=100 cargo test --release --test crash_loop -- --nocapture --test-threads 1

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Child;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::json;

const LEASE_MS: u64 = 3000;
const STUDENTS: usize = 8;

/// Students s-0..s-7, all under 16; guardians: g-i of s-i, and g-shared-k of s-2k and s-2k+1
/// (a parent of two children: one digest listing both).
fn directory() -> serde_json::Value {
    let students: Vec<_> = (0..STUDENTS)
        .map(|i| {
            let own = format!("g-{i}");
            let shared = format!("g-shared-{}", i / 2);
            json!({"id": format!("s-{i}"), "school": "coornhert", "name": format!("Leerling {i}"),
                   "birth_date": "2012-05-01", "class": "3c", "locale": "nl",
                   "contacts": [{"email": format!("s-{i}@example.test")}],
                   "guardian_access": {"grades": true, "absences": true},
                   "guardians": [
                       {"id": own, "name": format!("Ouder {i}"), "locale": "nl",
                        "contacts": [{"email": format!("{own}@example.test")}]},
                       {"id": shared, "name": format!("Ouder gedeeld {}", i / 2), "locale": "nl",
                        "contacts": [{"email": format!("{shared}@example.test")}]}]})
        })
        .collect();
    json!({"students": students, "timetable": []})
}

/// Who must get an event about student `i`.
fn recipients(i: usize) -> [String; 3] {
    [
        format!("s-{i}@example.test"),
        format!("g-{i}@example.test"),
        format!("g-shared-{}@example.test", i / 2),
    ]
}

struct Instance {
    config: std::path::PathBuf,
    http: u16,
    name: String,
    child: Option<Child>,
}

impl Instance {
    fn start(&mut self) {
        self.child = Some(common::start_named_daemon(&self.config, &self.name));
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            common::kill9(&mut c);
        }
    }
}

struct Instances(Vec<Instance>);

impl Drop for Instances {
    fn drop(&mut self) {
        for i in &mut self.0 {
            i.kill();
        }
    }
}

#[derive(Default, Debug)]
struct Figures {
    rounds: usize,
    kills: usize,
    /// Kills within 40 ms of posting, while the batches are being ingested.
    kills_aimed_at_ingest: usize,
    restarts_after_lease: usize,
    events: usize,
    messages: usize,
    receptions: usize,
    /// Receptions of a key already received (a send in flight at a kill): same key.
    same_key_repeats: usize,
}

fn seed() -> u64 {
    match std::env::var("RUSTIG_CRASH_SEED") {
        Ok(s) => s.parse().expect("RUSTIG_CRASH_SEED: a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

fn rounds() -> usize {
    std::env::var("RUSTIG_CRASH_ROUNDS")
        .ok()
        .map(|s| s.parse().expect("RUSTIG_CRASH_ROUNDS: a number"))
        .unwrap_or(4)
}

/// Posts one NDJSON batch, the same bytes every time, until some instance answers 202.
async fn post_until_acked(client: reqwest::Client, https: Vec<u16>, body: String, first: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut i = first;
    loop {
        if common::post_events(&client, https[i % https.len()], body.clone()).await == Some(202) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no instance acknowledged a batch in 120 s"
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn crash_loop(label: &str, stores: &[String], tmp: &Path) {
    let seed = seed();
    let rounds = rounds();
    eprintln!("crash loop on {label}: seed {seed} (RUSTIG_CRASH_SEED={seed}), {rounds} rounds");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    std::fs::write(tmp.join("directory.json"), directory().to_string()).unwrap();
    let (smtp, inbox, delay) = common::start_slow_server(0);
    let mut instances = Instances(
        stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let http = common::free_port();
                let name = format!("{label}-{i}");
                let config = common::write_relay_config(
                    tmp,
                    &name,
                    store,
                    http,
                    smtp,
                    &format!(
                        "[delivery]\nlease = \"{LEASE_MS}ms\"\nbatch = 4\nconcurrency = 4\n\
                         [grades]\nclassroom_first = \"off\"\nguardian_delay = \"1s\"\n\
                         [digest]\nstudents = \"immediate\"\nguardians = \"immediate\"\n"
                    ),
                );
                Instance {
                    config,
                    http,
                    name,
                    child: None,
                }
            })
            .collect(),
    );
    for i in &mut instances.0 {
        i.start();
    }
    for i in &instances.0 {
        common::wait_ready(i.http).await;
    }
    let https: Vec<u16> = instances.0.iter().map(|i| i.http).collect();
    let client = reqwest::Client::new();

    // Every event posted (acknowledged or not), by id: the student it is about, and its line.
    let mut posted: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut figures = Figures {
        rounds,
        ..Figures::default()
    };
    for round in 0..rounds {
        // A slow relay in some rounds: kills then land while messages wait for their 250.
        delay.store(
            *[0, 0, 300, 1500].get(rng.usize(0..4)).unwrap(),
            Ordering::SeqCst,
        );
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut batches = vec![];
        for b in 0..rng.usize(1..=3) {
            // Several grades of one student at once, and of siblings: bundles.
            let lines: Vec<(String, (usize, String))> = (0..rng.usize(1..=40))
                .map(|n| {
                    let (id, student) = (format!("evt-{round}-{b}-{n}"), rng.usize(0..STUDENTS));
                    let line = common::grade_line(&id, &format!("s-{student}"), &now);
                    (id, (student, line))
                })
                .collect();
            let mut body: Vec<String> = lines.iter().map(|(_, (_, l))| l.clone()).collect();
            // A redelivery of an earlier event (the same line) now and then: stored once, sent
            // once.
            if let Some((_, (_, old))) = posted.iter().nth(rng.usize(0..posted.len().max(1))) {
                if rng.bool() {
                    body.push(old.clone());
                }
            }
            posted.extend(lines.iter().cloned());
            batches.push((lines, body.join("\n")));
        }
        let mut clients = vec![];
        for (lines, body) in &batches {
            let ids: Vec<String> = lines.iter().map(|(id, _)| id.clone()).collect();
            let post = post_until_acked(
                client.clone(),
                https.clone(),
                body.clone(),
                rng.usize(0..https.len()),
            );
            clients.push(tokio::spawn(async move {
                post.await;
                ids
            }));
        }
        // Kill during ingest (the first few ms of a batch) or during the release.
        let in_ingest = rng.usize(0..3) == 0;
        let at = if in_ingest {
            rng.u64(0..40)
        } else {
            rng.u64(100..2000)
        };
        tokio::time::sleep(Duration::from_millis(at)).await;
        let victims: Vec<usize> = if instances.0.len() > 1 && rng.usize(0..4) == 0 {
            (0..instances.0.len()).collect()
        } else {
            vec![rng.usize(0..instances.0.len())]
        };
        for v in &victims {
            instances.0[*v].kill();
            figures.kills += 1;
            figures.kills_aimed_at_ingest += in_ingest as usize;
        }
        // Half the time the restart comes after the lease: claims are taken over at once.
        if rng.bool() {
            figures.restarts_after_lease += 1;
            tokio::time::sleep(Duration::from_millis(LEASE_MS + 300)).await;
        }
        for v in &victims {
            instances.0[*v].start();
        }
        for v in &victims {
            common::wait_ready(instances.0[*v].http).await;
        }
        for c in clients {
            acked.extend(c.await.unwrap());
        }
    }
    figures.events = posted.len();

    // Every acknowledged event to each of its recipients.
    let expected: BTreeSet<(String, String)> = acked
        .iter()
        .flat_map(|id| recipients(posted[id].0).map(|r| (id.clone(), r)))
        .collect();
    let delivered = || -> BTreeSet<(String, String)> {
        inbox
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| {
                let events = m.events();
                m.to.iter()
                    .flat_map(move |to| events.clone().into_iter().map(move |e| (e, to.clone())))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let missing: Vec<_> = expected.difference(&delivered()).cloned().collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let store = rustig::store::open(&stores[0]).await.unwrap();
            let mut states = vec![];
            for (e, _) in missing.iter().take(10) {
                for n in store.notices_of_event(e).await.unwrap() {
                    states.push(format!(
                        "{e} {} {} due {} attempts {} message {:?} error {:?}",
                        n.recipient, n.state, n.due_at, n.attempts, n.message_key, n.last_error
                    ));
                }
            }
            panic!(
                "seed {seed}: {} acknowledged notices never delivered, e.g. {:?}\nstore: {:?}\n{}",
                missing.len(),
                &missing[..missing.len().min(10)],
                store.counts().await.unwrap(),
                states.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A straggler (a duplicate, or something never posted) would arrive now.
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 1000)).await;
    for i in &mut instances.0 {
        i.kill();
    }

    let mail = inbox.lock().unwrap().clone();
    let mut keys_of_notice: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    let mut events_of_key: HashMap<String, BTreeSet<Vec<String>>> = HashMap::new();
    for m in &mail {
        let (key, events) = (m.key(), m.events());
        for e in &events {
            assert!(
                posted.contains_key(e),
                "seed {seed}: {e} delivered but never posted"
            );
            for to in &m.to {
                keys_of_notice
                    .entry((e.clone(), to.clone()))
                    .or_default()
                    .insert(key.clone());
            }
        }
        events_of_key.entry(key).or_default().insert(events);
    }
    let split: Vec<_> = keys_of_notice.iter().filter(|(_, k)| k.len() > 1).collect();
    assert!(
        split.is_empty(),
        "seed {seed}: notices in messages with different keys: {split:?}"
    );
    let changed: Vec<_> = events_of_key.iter().filter(|(_, e)| e.len() > 1).collect();
    assert!(
        changed.is_empty(),
        "seed {seed}: a key carried different events: {changed:?}"
    );
    figures.messages = events_of_key.len();
    figures.receptions = mail.len();
    figures.same_key_repeats = mail.len() - events_of_key.len();
    let bundles = events_of_key
        .values()
        .filter(|e| e.iter().next().is_some_and(|e| e.len() > 1))
        .count();
    eprintln!(
        "crash loop on {label}: seed {seed}: {} rounds, {} kills ({} aimed at ingest, {} restarts after \
         the lease), {} events ({} acknowledged), {} messages ({bundles} bundles), {} receptions, \
         {} same-key repeats, 0 notices under two keys, {:.0} s",
        figures.rounds,
        figures.kills,
        figures.kills_aimed_at_ingest,
        figures.restarts_after_lease,
        figures.events,
        acked.len(),
        figures.messages,
        figures.receptions,
        figures.same_key_repeats,
        started.elapsed().as_secs_f64()
    );
    assert!(
        bundles > 0,
        "seed {seed}: no bundled message in {rounds} rounds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_a_crash_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/rustig.db", tmp.path().display());
    crash_loop("sqlite", &[store], tmp.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_survive_a_crash_loop() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    crash_loop("postgres", &[pg.url.clone(), pg.url.clone()], tmp.path()).await;
}
