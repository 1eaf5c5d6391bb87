//! The preference page in a real browser: Debian's Chromium, headless at 360 px, driven
//! through chromedriver (fantoccini). The guardian opens the link from an `.eml` the daemon
//! wrote, switches to weekly, and the pending notice moves to Friday 17:00; a 15-year-old
//! sees no sharing controls, a 16-year-old hides grades. Every page passes axe-core without
//! serious or critical violations. Screenshots go to `target/screenshots/`.
//!
//! Needs `chromium`, `chromium-driver` and `target/axe/node_modules/axe-core/axe.min.js`
//! (`.ci/run` installs them); without them the tests skip loudly, and fail under `CI=true`.

#[path = "common/browser.rs"]
mod browser;
mod prefs;

use browser::{tools_present, Driver};
use chrono::Duration;
use fantoccini::Locator;
use prefs::*;
use rustig::clock::Clock;
use rustig::model::Role;
use rustig::prefs::token::Keyring;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_in_chromium_switches_to_weekly() {
    if !tools_present() {
        return;
    }
    let f = start("2026-11-23T08:40:00+01:00").await;
    f.post(absence("abs-1", "s-15", "2026-11-23T08:40:00+01:00"))
        .await;
    f.at("2026-11-23T09:00:00+01:00").await;
    f.post(grade("g-1", "s-15", "2026-11-23T09:00:00+01:00", "test"))
        .await;
    f.at("2026-11-23T09:30:00+01:00").await;
    let link = settings_link(&f.mail_to("anna@example.nl")[0]);

    let b = Driver::start().await;
    b.client.goto(&link).await.unwrap();
    assert!(b.client.source().await.unwrap().contains("Hallo Anna"));
    b.fits("guardian page").await;
    b.axe("guardian page").await;
    b.screenshot("guardian-before").await;
    b.click("input[name=frequency][value=weekly]").await;
    b.click("button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css("p.ok"))
        .await
        .unwrap();
    b.screenshot("guardian-saved").await;
    b.axe("guardian page, saved").await;
    assert!(b.has("input[name=frequency][value=weekly][checked]").await);

    let n = f.notices("g-1").await;
    let anna = n.iter().find(|n| n.0 == "g-2001").unwrap();
    assert_eq!(anna.1, at("2026-11-27T17:00:00+01:00"), "{n:?}");
    assert_eq!(anna.2.last().map(String::as_str), Some("preference"));

    // The neutral page for a bad link is accessible too.
    b.client
        .goto(&format!("{}p/nonsense", f.base))
        .await
        .unwrap();
    b.axe("refused link").await;
    b.screenshot("refused-link").await;
    b.stop().await;
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_of_15_and_16_in_chromium() {
    if !tools_present() {
        return;
    }
    let f = start("2026-11-23T09:00:00+01:00").await;
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    let link = |who: &str| {
        format!(
            "{}p/{}",
            f.base,
            keys.sign(
                "coornhert",
                Role::Student,
                who,
                f.clock.now(),
                Duration::days(30)
            )
        )
    };
    let b = Driver::start().await;

    b.client.goto(&link("s-15")).await.unwrap();
    assert!(b.has("#no-sharing").await);
    assert!(!b.has("input[name=share_grades]").await);
    b.fits("15-year-old").await;
    b.axe("15-year-old").await;
    b.screenshot("student-15").await;

    b.client.goto(&link("s-16")).await.unwrap();
    b.click("input[name=share_grades][value=no]").await;
    b.fits("16-year-old").await;
    b.axe("16-year-old").await;
    b.click("button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css("p.ok"))
        .await
        .unwrap();
    b.screenshot("student-16-saved").await;
    assert!(b.has("input[name=share_grades][value=no][checked]").await);

    f.post(grade("t-1", "s-16", "2026-11-23T09:05:00+01:00", "test"))
        .await;
    f.post(grade(
        "rep-1",
        "s-16",
        "2026-11-23T09:06:00+01:00",
        "report",
    ))
    .await;
    assert!(!f.notices("t-1").await.iter().any(|n| n.0 == "g-3001"));
    assert!(f.notices("rep-1").await.iter().any(|n| n.0 == "g-3001"));

    // Her guardian's page tells what she chose.
    let karin = format!(
        "{}p/{}",
        f.base,
        keys.sign(
            "coornhert",
            Role::Guardian,
            "g-3001",
            f.clock.now(),
            Duration::days(30)
        )
    );
    b.client.goto(&karin).await.unwrap();
    assert!(b
        .client
        .source()
        .await
        .unwrap()
        .contains("Sanne heeft gekozen om absenties te delen, geen toetscijfers"));
    b.axe("guardian of a 16-year-old").await;
    b.screenshot("guardian-of-16").await;
    b.stop().await;
    f.d.shutdown().await;
}
