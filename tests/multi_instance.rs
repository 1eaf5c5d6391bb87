//! Three `rustig run` processes on one PostgreSQL database share a large release; one is
//! killed with SIGKILL in the middle of it. Its claims are taken over once their lease runs
//! out, and a real SMTP server receives every planned message exactly once (by Message-ID).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::{post_ndjson, BaseConfig};
use serde_json::json;

const STUDENTS: usize = 250;
/// Each student and each of their two guardians gets one message about the grade.
const MESSAGES: usize = STUDENTS * 3;
const LEASE_SECS: i64 = 3;

fn email(id: &str) -> String {
    format!("{id}@example.test")
}

/// A school of `STUDENTS` students under 16, each with two guardians of their own.
fn directory() -> serde_json::Value {
    let students: Vec<_> = (0..STUDENTS)
        .map(|i| {
            let s = format!("s-{i:04}");
            let guardians: Vec<_> = (1..=2)
                .map(|g| {
                    let id = format!("g-{i:04}-{g}");
                    json!({"id": id, "name": format!("Ouder {g} van {i}"), "locale": "nl",
                           "contacts": [{"email": email(&id)}]})
                })
                .collect();
            json!({"id": s, "school": "coornhert", "name": format!("Leerling {i}"),
                   "birth_date": "2012-05-01", "class": "2b", "locale": "nl",
                   "contacts": [{"email": email(&s)}],
                   "guardian_access": {"grades": true, "absences": true},
                   "guardians": guardians})
        })
        .collect();
    json!({"students": students, "timetable": []})
}

fn write_config(tmp: &Path, name: &str, store: &str, http: u16, smtp: u16) -> PathBuf {
    BaseConfig::new(tmp)
        .store(store)
        .directory_in_tmp()
        .http(http)
        .email(&format!(
            "transport = \"smtp\"\nurl = \"smtp://127.0.0.1:{smtp}\"\npool_size = 4"
        ))
        .no_quiet_times()
        .extra(&format!(
            r#"[delivery]
concurrency = 4
batch = 6
lease = "{LEASE_SECS}s"
[grades]
classroom_first = "off"
guardian_delay = "1s"
[digest]
students = "immediate"
guardians = "immediate"
"#
        ))
        .write_as(name)
}

/// The daemons, killed when the test ends however it ends.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn wait_for(what: &str, secs: u64, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The idempotency key in a `Message-ID: <key@domain of from>`.
fn key_of(m: &common::Received) -> String {
    let id = m.header("Message-ID").expect("Message-ID");
    id.trim_start_matches('<')
        .split('@')
        .next()
        .unwrap()
        .to_string()
}

fn keys(inbox: &common::Inbox) -> Vec<String> {
    inbox.lock().unwrap().iter().map(key_of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_a_release_and_survive_a_kill() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("directory.json"), directory().to_string()).unwrap();
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();

    // One SMTP server per instance, so the test knows who sent what; C's can hold messages.
    let gates: Vec<common::Gate> = (0..3).map(|_| common::Gate::default()).collect();
    let servers: Vec<(u16, common::Inbox)> = gates.iter().map(common::start_gated_server).collect();
    let https: Vec<u16> = (0..3).map(|_| common::free_port()).collect();
    let mut daemons = Daemons(vec![]);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let config = write_config(tmp.path(), name, &pg.url, https[i], servers[i].0);
        daemons.0.push(common::start_daemon(&config));
    }
    for http in &https {
        common::wait_ready(*http).await;
    }

    // The release: one grade per student, all entered for the same moment a little ahead, so
    // every student's message is due at once and every guardian's a second later. The same
    // batch goes to A and B at the same time: each event must be stored once.
    let at =
        (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let body = (0..STUDENTS)
        .map(|i| {
            json!({"id": format!("evt-{i}"), "type": "grade.entered", "school": "coornhert",
                   "occurred_at": at, "record": format!("r-{i}"), "student": format!("s-{i:04}"),
                   "grade": {"assessment": "toets-7", "subject": "wiskunde", "class": "2b",
                             "description": "Toets H7", "value": "6,8", "kind": "test"}})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let post = |http: u16| {
        let body = body.clone();
        async move { post_ndjson(http, body).await.status() }
    };
    let (ra, rb) = tokio::join!(post(https[0]), post(https[1]));
    assert_eq!((ra.as_u16(), rb.as_u16()), (202, 202));
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        events, STUDENTS as i64,
        "an event ingested twice is stored once"
    );
    let planned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(planned, MESSAGES as i64);

    // Let C send a few, then hold what it sends next: it dies with claims in hand but with
    // no message half delivered (accepted by the server, not yet recorded as sent).
    let (c_gate, c_inbox) = (&gates[2], &servers[2].1);
    wait_for("C to take part in the release", 30, async || {
        c_inbox.lock().unwrap().len() >= 3
    })
    .await;
    c_gate.hold_after(0);
    wait_for("C to be stuck in a send", 30, async || {
        !c_gate.held().is_empty()
    })
    .await;
    wait_for("C's last messages to arrive", 30, async || {
        c_inbox.lock().unwrap().len() == c_gate.passed()
    })
    .await;
    let c_sent = keys(c_inbox);
    wait_for("C's sends to be recorded", 30, async || {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT message_key) FROM notices WHERE state = 'sent' AND message_key = ANY($1)",
        )
        .bind(&c_sent)
        .fetch_one(&db)
        .await
        .unwrap();
        recorded == c_sent.len() as i64
    })
    .await;
    let held: Vec<String> = c_gate.held().concat();
    daemons.0[2].kill().unwrap(); // SIGKILL: no goodbye
    daemons.0[2].wait().unwrap();
    c_gate.open();

    // What C held is still claimed by C; its lease decides when A or B may take it over.
    let held_ids: Vec<String> = held
        .iter()
        .map(|a| a.trim_end_matches("@example.test").to_string())
        .collect();
    let leases: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT recipient, state, claimed_until FROM notices WHERE recipient = ANY($1)",
    )
    .bind(&held_ids)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(leases.len(), held_ids.len(), "{leases:?}");
    assert!(
        leases.iter().all(|(_, s, _)| s == "claimed"),
        "C's messages in flight stay claimed: {leases:?}"
    );
    let lease_end = leases.iter().filter_map(|l| l.2).min().unwrap();

    // Everything goes out; C's share once its lease ran out.
    let mut taken_over_at: HashMap<String, i64> = HashMap::new();
    let survivors = [&servers[0].1, &servers[1].1];
    wait_for("every message", 60, async || {
        for inbox in survivors {
            for m in inbox.lock().unwrap().iter() {
                for to in &m.to {
                    if held.contains(to) {
                        taken_over_at
                            .entry(to.clone())
                            .or_insert_with(|| Utc::now().timestamp_millis());
                    }
                }
            }
        }
        let n: usize = servers.iter().map(|(_, i)| i.lock().unwrap().len()).sum();
        n >= MESSAGES
    })
    .await;
    wait_for("every notice recorded as sent", 30, async || {
        let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE state = 'sent'")
            .fetch_one(&db)
            .await
            .unwrap();
        sent == MESSAGES as i64
    })
    .await;
    // Anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_millis(LEASE_SECS as u64 * 1000 + 500)).await;

    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut to: Vec<String> = vec![];
    let mut per_instance = vec![];
    let mut senders: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for ((_, inbox), name) in servers.iter().zip(["A", "B", "C"]) {
        let mail = inbox.lock().unwrap().clone();
        per_instance.push(mail.len());
        for m in &mail {
            *by_key.entry(key_of(m)).or_default() += 1;
            senders.entry(key_of(m)).or_default().push(name);
            to.extend(m.to.clone());
        }
    }
    let twice: Vec<_> = senders.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(twice.is_empty(), "sent more than once (by): {twice:?}");
    assert_eq!(by_key.len(), MESSAGES, "per instance: {per_instance:?}");
    to.sort();
    let mut expected: Vec<String> = (0..STUDENTS)
        .flat_map(|i| {
            [
                email(&format!("s-{i:04}")),
                email(&format!("g-{i:04}-1")),
                email(&format!("g-{i:04}-2")),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(to, expected, "every planned recipient exactly once");
    assert!(
        per_instance[0] > 0 && per_instance[1] > 0 && per_instance[2] >= 3,
        "all three took part: {per_instance:?}"
    );

    // The store agrees: all sent, one message key per message, the same keys as received.
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM notices GROUP BY state")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(states, vec![("sent".to_string(), MESSAGES as i64)]);
    let stored: HashSet<String> = sqlx::query_scalar("SELECT DISTINCT message_key FROM notices")
        .fetch_all(&db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, by_key.keys().cloned().collect::<HashSet<_>>());

    // C's held messages went out through A or B, and not before C's lease ended.
    for addr in &held {
        let t = taken_over_at
            .get(addr)
            .unwrap_or_else(|| panic!("{addr} was not taken over by A or B"));
        assert!(
            *t >= lease_end,
            "{addr} taken over {} ms before the lease ended",
            lease_end - t
        );
    }

    db.close().await;
    drop(daemons);
}
