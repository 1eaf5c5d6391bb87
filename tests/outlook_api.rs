//! The dashboard's outlook over the admin API (`GET /v1/week`, `/v1/week/bar`, `/v1/calm`) on
//! the whole daemon, driven through a scripted school week on a manual clock: the bars hold
//! what the planner put where, the blackouts are the school's, a bar lists its notices with
//! their reasons and no grade values, and the week's calm figures count what was sent.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::daemon::{quiesce, BaseConfig};
use rustig::clock::ManualClock;
use serde_json::Value;

const READ: &str = "read-token-0123456789abcdef";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The school's rules spelled out, so the test does not lean on defaults.
const RULES: &str = r#"
[quiet_hours]
start = "20:00"
end = "07:00"
[weekend]
from = "fri 18:00"
until = "mon 07:00"
[holidays]
dates = ["2026-12-19..2027-01-03"]
[grades]
classroom_first = "release"
max_hold = "5d"
guardian_delay = "24h"
guardians = "all"
[absences]
settle = "45m"
guardians = { unauthorized = "immediate", late = "digest", sick = "none" }
[digest]
students = "immediate"
guardians = "0 17 * * mon-fri"
"#;

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

async fn post(http: std::net::SocketAddr, lines: &[String]) {
    let r = common::daemon::post_ndjson(http.port(), lines.join("\n") + "\n").await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    for result in body["results"].as_array().unwrap() {
        assert_eq!(result["status"], "accepted", "{body}");
    }
}

fn grade(id: &str, record: &str, occurred: &str, value: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{occurred}","record":"{record}","student":"s-1001","grade":{{"assessment":"a-h3","subject":"wiskunde","class":"3c","description":"Toets H3","value":"{value}","kind":"test"}}}}"#
    )
}

fn absence(id: &str, student: &str, kind: &str, occurred: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"absence.registered","school":"coornhert","occurred_at":"{occurred}","record":"abs-{id}","student":"{student}","absence":{{"kind":"{kind}","start":"{occurred}","period":1}}}}"#
    )
}

fn totals(week: &Value) -> Vec<(String, u64)> {
    week["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["total"].as_u64().unwrap() > 0)
        .map(|b| {
            (
                b["start"].as_str().unwrap().to_string(),
                b["total"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_week_in_the_outlook() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("read.token"), format!("{READ}\n")).unwrap();
    let admin = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\nread_token_file = \"{}/read.token\"\n",
        tmp.path().display()
    );
    let config = BaseConfig::new(tmp.path())
        .extra(&admin)
        .extra(RULES)
        .parse();
    // Monday of week 48, 09:30.
    let clock = Arc::new(ManualClock::new(at("2026-11-23T09:30:00+01:00")));
    let d = rustig::daemon::start(config, clock.clone()).await.unwrap();
    let api = Api {
        base: format!("http://{}", d.admin_addr.unwrap()),
        client: reqwest::Client::new(),
    };
    let http = d.http_addr.unwrap();

    // A test for Merel (waits for its discussion in class, at most 5 days), Daan absent
    // without leave (45 minutes to settle, then at once), Sanne late (the 17:00 digest).
    post(
        http,
        &[
            grade("g-1", "r-1", "2026-11-23T09:00:00+01:00", "5,4"),
            absence("a-1", "s-1002", "unauthorized", "2026-11-23T09:10:00+01:00"),
            absence("a-2", "s-1003", "late", "2026-11-23T09:20:00+01:00"),
        ],
    )
    .await;

    let week = api.ok("/v1/week?school=coornhert").await;
    assert_eq!(week["zone"], "Europe/Amsterdam");
    assert_eq!(week["from"], "2026-11-23T09:00:00+01:00");
    assert_eq!(week["to"], "2026-11-30T09:00:00+01:00");
    assert_eq!(week["bars"].as_array().unwrap().len(), 168);
    assert_eq!(
        (week["pending"].as_u64(), week["overdue"].as_u64()),
        (Some(5), Some(0))
    );
    // The guardians' grade: 24 hours after Merel, Tuesday 1 December — beyond the week.
    assert_eq!(week["beyond"], 2);
    assert_eq!(
        totals(&week),
        [
            // Daan's guardian, after the settle window.
            ("2026-11-23T09:00:00+01:00".to_string(), 1),
            // Sanne's guardian, in the digest.
            ("2026-11-23T17:00:00+01:00".to_string(), 1),
            // Merel: the test was not discussed; max hold (Saturday) and the weekend.
            ("2026-11-30T07:00:00+01:00".to_string(), 1),
        ]
    );
    let seventeen = &week["bars"].as_array().unwrap()[8];
    assert_eq!(seventeen["start"], "2026-11-23T17:00:00+01:00");
    assert_eq!(seventeen["end"], "2026-11-23T18:00:00+01:00");
    assert_eq!(
        seventeen["counts"],
        serde_json::json!([{"role": "guardian", "channel": "email", "count": 1}])
    );
    let blackouts: Vec<(&str, &str, &str)> = week["blackouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap(),
                b["end"].as_str().unwrap(),
                b["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        blackouts,
        [
            (
                "2026-11-23T20:00:00+01:00",
                "2026-11-24T07:00:00+01:00",
                "quiet"
            ),
            (
                "2026-11-24T20:00:00+01:00",
                "2026-11-25T07:00:00+01:00",
                "quiet"
            ),
            (
                "2026-11-25T20:00:00+01:00",
                "2026-11-26T07:00:00+01:00",
                "quiet"
            ),
            (
                "2026-11-26T20:00:00+01:00",
                "2026-11-27T07:00:00+01:00",
                "quiet"
            ),
            (
                "2026-11-27T18:00:00+01:00",
                "2026-11-30T07:00:00+01:00",
                "weekend"
            ),
        ]
    );

    // What the 17:00 bar holds: Sanne by id and class, with the reasons; no names, no values.
    let bar = api
        .ok("/v1/week/bar?school=coornhert&hour=2026-11-23T17:00:00%2B01:00")
        .await;
    let items = bar["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{bar}");
    let item = &items[0];
    assert_eq!(
        (
            &item["student"],
            &item["class"],
            &item["role"],
            &item["channel"],
            &item["kind"]
        ),
        (
            &Value::from("s-1003"),
            &Value::from("6v"),
            &Value::from("guardian"),
            &Value::from("email"),
            &Value::from("absence")
        )
    );
    assert_eq!(item["rule"], "digest_slot");
    assert_eq!(item["due_at"], "2026-11-23T17:00:00+01:00");
    let explain: Vec<&str> = item["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(explain[0].starts_with("entered"), "{explain:?}");
    assert!(
        explain.iter().any(|s| s.starts_with("digest slot")),
        "{explain:?}"
    );
    // Any instant of the hour names the same bar; Merel's bar lists the gate.
    let same = api
        .ok("/v1/week/bar?school=coornhert&hour=2026-11-23T16:42:10Z")
        .await;
    assert_eq!(same["items"], bar["items"]);
    let merel = api
        .ok("/v1/week/bar?school=coornhert&hour=2026-11-30T07:00:00%2B01:00")
        .await;
    let text = merel.to_string();
    assert!(text.contains("s-1001") && text.contains("\"3c\""), "{text}");
    assert!(
        !text.contains("5,4") && !text.contains("Merel"),
        "no values or names: {text}"
    );
    assert!(text.contains("max hold"), "{text}");

    // The week goes by: Daan's absence at 09:55, the test discussed at 11:05, the digest at
    // 17:00, the guardians' grade on Tuesday's digest; a correction on Wednesday.
    clock.set(at("2026-11-23T09:55:00+01:00"));
    quiesce(&d, &clock).await;
    clock.set(at("2026-11-23T11:05:00+01:00"));
    post(
        http,
        &[r#"{"id":"rel-1","type":"assessment.released","school":"coornhert","occurred_at":"2026-11-23T11:05:00+01:00","record":"a-h3","assessment":"a-h3","class":"3c"}"#.to_string()],
    )
    .await;
    quiesce(&d, &clock).await;
    let week = api.ok("/v1/week?school=coornhert").await;
    assert_eq!(week["from"], "2026-11-23T11:00:00+01:00");
    assert_eq!(
        totals(&week),
        [
            ("2026-11-23T17:00:00+01:00".to_string(), 1),
            // Both of Merel's guardians, a day after her, in Tuesday's digest.
            ("2026-11-24T17:00:00+01:00".to_string(), 2),
        ]
    );
    assert_eq!(
        (week["beyond"].as_u64(), week["pending"].as_u64()),
        (Some(0), Some(3))
    );
    for t in [
        "2026-11-23T17:00:00+01:00",
        "2026-11-24T17:00:00+01:00",
        "2026-11-25T10:00:00+01:00",
    ] {
        clock.set(at(t));
        quiesce(&d, &clock).await;
    }
    post(
        http,
        &[grade("g-2", "r-1", "2026-11-25T10:00:00+01:00", "6,4")],
    )
    .await;
    // Merel hears of it at once (Wednesday 10:00), her guardians in Thursday's digest.
    quiesce(&d, &clock).await;
    clock.set(at("2026-11-26T17:00:00+01:00"));
    quiesce(&d, &clock).await;
    let counts = d.store.counts().await.unwrap();
    assert_eq!((counts.sent, counts.pending), (8, 0));

    let calm = api.ok("/v1/calm?school=coornhert&week=2026-W48").await;
    assert_eq!(calm["week"], "2026-W48");
    assert_eq!(calm["from"], "2026-11-23T00:00:00+01:00");
    assert_eq!(calm["to"], "2026-11-30T00:00:00+01:00");
    assert_eq!(calm["complete"], true);
    // Daan's guardian 1, Sanne's 1, Merel's two guardians 2 each (grade and correction).
    assert_eq!(calm["messages"], 8);
    assert_eq!(calm["families"], 3);
    assert_eq!(calm["per_family_median"], 1.0);
    assert_eq!(calm["per_family_p90"], 4.0);
    for kind in ["in_quiet_hours", "in_weekend", "in_holidays"] {
        assert_eq!(calm[kind], 0, "{kind}");
    }
    // Monday 11:05 → Tuesday 17:00 (29h55m); Wednesday 10:00 → Thursday 17:00 (31h).
    assert_eq!(
        calm["student_to_guardian_median_seconds"],
        (29 * 3600 + 55 * 60 + 31 * 3600) / 2
    );
    assert_eq!(calm["grades_after_discussion_share"], 1.0);
    assert_eq!(calm["corrections_to_families"], 1);
    let text = calm.to_string();
    for personal in ["s-100", "g-200", "Merel", "anna@"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    // The week before: nothing sent; the current week is the default.
    let before = api.ok("/v1/calm?school=coornhert&week=2026-W47").await;
    assert_eq!(
        (before["messages"].as_u64(), before["families"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(before["student_to_guardian_median_seconds"].is_null());
    assert!(before["grades_after_discussion_share"].is_null());
    let current = api.ok("/v1/calm?school=coornhert").await;
    assert_eq!(current["week"], "2026-W48");
    assert_eq!(current["messages"], 8);

    // Refusals: an unknown school, a malformed hour or week, no token.
    for (path, status) in [
        ("/v1/week?school=elsewhere", 404),
        (
            "/v1/week/bar?school=elsewhere&hour=2026-11-23T17:00:00Z",
            404,
        ),
        ("/v1/calm?school=elsewhere", 404),
        ("/v1/week/bar?school=coornhert&hour=tomorrow", 400),
        (
            "/v1/week/bar?school=coornhert&hour=2026-11-23T17:00:00Z&limit=0",
            400,
        ),
        ("/v1/calm?school=coornhert&week=2026-48", 400),
        ("/v1/week", 400),
    ] {
        let (got, body) = api.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let r = api
        .client
        .get(format!("{}/v1/week?school=coornhert", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
