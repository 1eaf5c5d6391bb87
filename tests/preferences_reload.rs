//! `[preferences]` on reload and in `rustig explain`: a new `base_url` and `link_ttl` reach
//! the next message's links without a restart, and `explain --event FILE` plans with the
//! families' stored choices, as the daemon does, showing the `preference` step.

mod prefs;

use chrono::Duration;
use prefs::*;
use rustig::clock::Clock;
use rustig::model::preference::{Choice, Frequency};
use rustig::model::Role;
use rustig::prefs::token::Keyring;

/// The claims of the token at the end of a settings link.
fn claims(keys: &Keyring, link: &str, now: chrono::DateTime<chrono::Utc>) -> (i64, i64) {
    let token = link.rsplit('/').next().unwrap();
    let c = keys
        .verify(token, now)
        .unwrap_or_else(|e| panic!("{link}: {e}"));
    (c.issued, c.expires)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_base_url_and_link_ttl_of_the_next_message() {
    let f = start("2026-11-23T08:40:00+01:00").await;
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    f.post(absence("abs-1", "s-15", "2026-11-23T08:40:00+01:00"))
        .await;
    f.at("2026-11-23T09:30:00+01:00").await;
    let first = f.mail_to("anna@example.nl");
    assert_eq!(first.len(), 1, "{:?}", f.outbox());
    let link = settings_link(&first[0]);
    assert!(link.starts_with(&format!("{}p/", f.base)), "{link}");
    let (issued, expires) = claims(&keys, &link, f.clock.now());
    assert_eq!(expires - issued, Duration::days(30).num_seconds());

    // The operator moves the page behind the proxy and shortens the links, then reloads.
    let text = config_text(f.tmp.path(), f.d.prefs_addr.unwrap().port()).replace(
        &format!("base_url = \"{}\"", f.base),
        "base_url = \"https://berichten.school.example/instellingen\"\nlink_ttl = \"7d\"",
    );
    assert!(text.contains("link_ttl = \"7d\""));
    std::fs::write(&f.config_path, text).unwrap();
    f.d.reloader.reload_file(f.clock.now()).await.unwrap();

    f.post(absence("abs-2", "s-15", "2026-11-23T09:30:00+01:00"))
        .await;
    f.at("2026-11-23T10:30:00+01:00").await;
    let mails = f.mail_to("anna@example.nl");
    assert_eq!(mails.len(), 2, "{:?}", f.outbox());
    let second = mails
        .iter()
        .find(|m| *m != &first[0])
        .expect("a second message");
    let link = settings_link(second);
    assert!(
        link.starts_with("https://berichten.school.example/instellingen/p/"),
        "{link}"
    );
    let (issued, expires) = claims(&keys, &link, f.clock.now());
    assert_eq!(expires - issued, Duration::days(7).num_seconds());
    assert_eq!(
        header(second, "List-Unsubscribe").unwrap(),
        format!("<{}>", link.replace("/p/", "/u/"))
    );
    // Links already sent keep working until they expire.
    let (_, expires) = claims(&keys, &settings_link(&first[0]), f.clock.now());
    assert!(expires > f.clock.now().timestamp());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_of_an_event_file_plans_with_the_stored_choices() {
    let f = start("2026-11-23T09:00:00+01:00").await;
    let prefs = f.d.prefs.clone().unwrap();
    let changed = prefs
        .change(rustig::prefs::Change {
            school: "coornhert".into(),
            person: "g-2001".into(),
            role: Role::Guardian,
            choice: Choice {
                frequency: Some(Frequency::Weekly),
                ..Choice::default()
            },
            links_from: None,
            expected: 0,
            actor: "guardian:g-2001".into(),
            action: "preferences.set".into(),
            reason: None,
        })
        .await
        .unwrap();
    assert!(changed.is_some());
    drop(prefs);
    f.d.shutdown().await;

    let event = f.tmp.path().join("event.json");
    std::fs::write(
        &event,
        grade("g-9", "s-15", "2026-11-23T09:00:00+01:00", "test").to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["explain", "--config"])
        .arg(&f.config_path)
        .arg("--event")
        .arg(&event)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |who: &str| {
        text.lines()
            .find(|l| l.contains(who))
            .unwrap_or_else(|| panic!("no {who} in {text}"))
            .to_string()
    };
    // Anna chose weekly: Friday 17:00, with the step that says why.
    let anna = line("g-2001");
    assert!(anna.contains("due Fri 27 Nov 17:00"), "{anna}");
    assert!(
        anna.contains("preference: \"0 17 * * fri\" → Fri 27 Nov 17:00"),
        "{anna}"
    );
    // Peter chose nothing: the school's daily digest after the student's day.
    let peter = line("g-2002");
    assert!(!peter.contains("preference"), "{peter}");
    assert!(peter.contains("due Tue 24 Nov 17:00"), "{peter}");
}
