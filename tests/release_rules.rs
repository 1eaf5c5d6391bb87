//! The release step as a table: what becomes of a claimed group for a given channel answer,
//! attempt count, first-due instant, daily count and `now` (policy::release). No store, no
//! clock: the same decisions the scheduler records, tested like the planner.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rustig::config::Config;
use rustig::model::{ChannelKind, Role};
use rustig::policy::release::{
    after_send, backoff, cap_since, expired, give_up, over_cap, Answer, Decision, Group, Rules,
};
use rustig::policy::{Policy, Rule};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The example's calendar (quiet 20:00–07:00, weekend fri 18:00–mon 07:00, the Christmas
/// holiday), guardians' digest at 17:00 on school days, three messages a day.
fn config(delivery: &str) -> Config {
    let text = format!(
        r#"timezone = "Europe/Amsterdam"
[quiet_hours]
start = "20:00"
end = "07:00"
[weekend]
from = "fri 18:00"
until = "mon 07:00"
[holidays]
dates = ["2026-12-19..2027-01-03"]
[digest]
students = "immediate"
guardians = "0 17 * * mon-fri"
max_per_day = 3
[delivery]
{delivery}
"#
    );
    Config::parse(Path::new("t.toml"), &text).unwrap()
}

fn policy(c: &Config) -> &Policy {
    c.policy("coornhert").unwrap()
}

const RULES: &str = "max_attempts = 4\nretry_base = \"30s\"\nretry_max = \"10m\"\nmax_age = \"3d\"";

fn group(channel: ChannelKind, role: Role, attempts: u32, first_due: &str) -> Group<'static> {
    Group {
        channel,
        role,
        key: "k-1",
        attempts,
        first_due: at(first_due),
    }
}

#[test]
fn a_group_older_than_max_age_is_dead_before_the_send() {
    let c = config(RULES);
    let rules = c.delivery.release_rules();
    let g = group(
        ChannelKind::Email,
        Role::Student,
        0,
        "2026-11-20T10:00:00+01:00",
    );
    for (now, dead) in [
        ("2026-11-23T10:00:00+01:00", false),
        ("2026-11-23T10:00:01+01:00", true),
        ("2026-11-30T10:00:00+01:00", true),
    ] {
        let got = expired(&g, &rules, at(now));
        assert_eq!(got.is_some(), dead, "{now}");
        if let Some(Decision::Dead { error }) = got {
            assert_eq!(
                error,
                "not delivered within max_age (3d) of 2026-11-20T09:00:00+00:00"
            );
        }
    }
}

#[test]
fn the_daily_cap_counts_from_local_midnight_and_defers_to_the_next_days_slot() {
    let c = config(RULES);
    let p = policy(&c);
    // Local midnight, also on the day the clocks go back (+02:00 at midnight).
    for (now, midnight) in [
        ("2026-11-24T15:00:00+01:00", "2026-11-24T00:00:00+01:00"),
        ("2026-10-25T15:00:00+01:00", "2026-10-25T00:00:00+02:00"),
    ] {
        assert_eq!(cap_since(Some(p), at(now)), Some(at(midnight)), "{now}");
    }
    let uncapped = config(&format!("{RULES}\n[schools.x]\nname = \"X\""));
    let mut no_cap = uncapped.policy("x").unwrap().clone();
    no_cap.digest.max_per_day = None;
    assert_eq!(
        cap_since(Some(&no_cap), at("2026-11-24T15:00:00+01:00")),
        None
    );
    assert_eq!(cap_since(None, at("2026-11-24T15:00:00+01:00")), None);

    // (role, now, sent today) -> deferred to
    let table = [
        (Role::Student, "2026-11-24T15:00:00+01:00", 2, None),
        (
            Role::Student,
            "2026-11-24T15:00:00+01:00",
            3,
            Some("2026-11-25T07:00:00+01:00"),
        ),
        (
            Role::Guardian,
            "2026-11-24T17:00:00+01:00",
            3,
            Some("2026-11-25T17:00:00+01:00"),
        ),
        // Friday's overflow waits for Monday: the weekend is not allowed.
        (
            Role::Student,
            "2026-11-27T15:00:00+01:00",
            5,
            Some("2026-11-30T07:00:00+01:00"),
        ),
        (
            Role::Guardian,
            "2026-11-27T17:00:00+01:00",
            3,
            Some("2026-11-30T17:00:00+01:00"),
        ),
        // The last school day before the holiday: the first slot after it.
        (
            Role::Guardian,
            "2026-12-18T17:00:00+01:00",
            3,
            Some("2027-01-04T17:00:00+01:00"),
        ),
    ];
    for (role, now, sent, want) in table {
        let g = group(ChannelKind::Email, role, 0, now);
        let got = over_cap(&g, Some(p), sent, at(now));
        match (got, want) {
            (None, None) => {}
            (Some(Decision::Defer { reason }), Some(to)) => {
                assert_eq!(reason.rule, Rule::DailyCap);
                assert_eq!(
                    (reason.from, reason.to),
                    (at(now), at(to)),
                    "{role:?} {now}"
                );
                assert_eq!(reason.detail, "3 message(s) a day");
            }
            (got, want) => panic!("{role:?} {now} {sent}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn backoff_doubles_up_to_retry_max_with_at_most_a_fifth_of_spread() {
    let c = config(RULES);
    let rules = c.delivery.release_rules();
    for (attempts, base) in [
        (1, 30),
        (2, 60),
        (3, 120),
        (4, 240),
        (5, 480),
        (6, 600),
        (30, 600),
    ] {
        let d = backoff(&rules, attempts, "k-1").num_milliseconds();
        let base = base * 1000;
        assert!(
            d >= base && d <= base + base / 5,
            "attempt {attempts}: {d} ms"
        );
        assert_eq!(d, backoff(&rules, attempts, "k-1").num_milliseconds());
    }
}

#[test]
fn after_the_send_table() {
    let c = config(RULES);
    let fallback = config(&format!("{RULES}\nfallback = \"email\""));
    let p = policy(&c);
    let now = at("2026-11-24T10:00:00+01:00");
    let spread = |attempts: u32, base: i64| {
        let d = backoff(&c.delivery.release_rules(), attempts, "k-1");
        assert!(d >= Duration::seconds(base) && d <= Duration::seconds(base + base / 5));
        now + d
    };
    let transient = |retry_after: Option<u64>| Answer::Transient {
        message: "451 greylisted".into(),
        retry_after: retry_after.map(std::time::Duration::from_secs),
    };
    let email = |attempts| {
        group(
            ChannelKind::Email,
            Role::Guardian,
            attempts,
            "2026-11-24T09:00:00+01:00",
        )
    };
    let ntfy = |attempts| {
        group(
            ChannelKind::Ntfy,
            Role::Guardian,
            attempts,
            "2026-11-24T09:00:00+01:00",
        )
    };
    let rules = c.delivery.release_rules();
    let fb = fallback.delivery.release_rules();

    let table: Vec<(&str, Group, Answer, &Rules, Decision)> = vec![
        (
            "delivered",
            email(0),
            Answer::Delivered,
            &rules,
            Decision::Sent { at: now },
        ),
        (
            "first transient failure: the base wait",
            email(0),
            transient(None),
            &rules,
            Decision::Retry {
                at: spread(1, 30),
                error: "451 greylisted".into(),
            },
        ),
        (
            "third: four times the base",
            email(2),
            transient(None),
            &rules,
            Decision::Retry {
                at: spread(3, 120),
                error: "451 greylisted".into(),
            },
        ),
        (
            "Retry-After longer than the backoff wins",
            email(0),
            transient(Some(600)),
            &rules,
            Decision::Retry {
                at: now + Duration::seconds(600),
                error: "451 greylisted".into(),
            },
        ),
        (
            "out of attempts",
            email(3),
            transient(None),
            &rules,
            Decision::Dead {
                error: "after 4 attempts: 451 greylisted".into(),
            },
        ),
        (
            "permanent without fallback",
            ntfy(0),
            Answer::Permanent("410 gone".into()),
            &rules,
            Decision::Dead {
                error: "410 gone".into(),
            },
        ),
        (
            "permanent push with fallback: by email now",
            ntfy(0),
            Answer::Permanent("410 gone".into()),
            &fb,
            Decision::FallBack {
                at: now,
                why: "ntfy failed: 410 gone".into(),
                error: "410 gone".into(),
            },
        ),
        (
            "email has nothing to fall back to",
            email(0),
            Answer::Permanent("550 no such user".into()),
            &fb,
            Decision::Dead {
                error: "550 no such user".into(),
            },
        ),
    ];
    for (what, g, answer, rules, want) in table {
        assert_eq!(after_send(&g, answer, Some(p), rules, now), want, "{what}");
    }
}

#[test]
fn retries_and_fallbacks_wait_for_an_allowed_instant_and_give_up_at_max_age() {
    let c = config(RULES);
    let p = policy(&c);
    let rules = c.delivery.release_rules();
    let transient = Answer::Transient {
        message: "busy".into(),
        retry_after: None,
    };
    // 19:59:50 + about 30 s falls into quiet hours: the retry waits for 07:00.
    let g = group(
        ChannelKind::Email,
        Role::Student,
        0,
        "2026-11-24T19:00:00+01:00",
    );
    let evening = at("2026-11-24T19:59:50+01:00");
    assert_eq!(
        after_send(&g, transient.clone(), Some(p), &rules, evening),
        Decision::Retry {
            at: at("2026-11-25T07:00:00+01:00"),
            error: "busy".into()
        }
    );
    // Friday evening: Monday morning. Without a policy only the backoff counts.
    let g = group(
        ChannelKind::Email,
        Role::Student,
        0,
        "2026-11-27T17:00:00+01:00",
    );
    let friday = at("2026-11-27T17:59:50+01:00");
    assert_eq!(
        after_send(&g, transient.clone(), Some(p), &rules, friday),
        Decision::Retry {
            at: at("2026-11-30T07:00:00+01:00"),
            error: "busy".into()
        }
    );
    let Decision::Retry { at: t, .. } = after_send(&g, transient.clone(), None, &rules, friday)
    else {
        panic!("a retry");
    };
    assert!(t > friday && t < friday + Duration::seconds(37));
    // A retry that would land after max_age is not made.
    let old = group(
        ChannelKind::Email,
        Role::Student,
        1,
        "2026-11-24T18:00:00+01:00",
    );
    assert_eq!(
        after_send(&old, transient, Some(p), &rules, friday),
        Decision::Dead {
            error: "not delivered within max_age (3d): busy".into()
        }
    );
    // The email fallback also waits for the calendar.
    let fb = config(&format!("{RULES}\nfallback = \"email\""));
    let push = group(
        ChannelKind::Webpush,
        Role::Guardian,
        0,
        "2026-11-24T19:00:00+01:00",
    );
    assert_eq!(
        give_up(
            &push,
            "410".into(),
            Some(p),
            &fb.delivery.release_rules(),
            at("2026-11-24T21:00:00+01:00")
        ),
        Decision::FallBack {
            at: at("2026-11-25T07:00:00+01:00"),
            why: "webpush failed: 410".into(),
            error: "410".into()
        }
    );
}
