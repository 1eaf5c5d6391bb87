//! The preference page in a real browser: Debian's Chromium, headless at 360 px, driven
//! through chromedriver (fantoccini). The guardian opens the link from an `.eml` the daemon
//! wrote, switches to weekly, and the pending notice moves to Friday 17:00; a 15-year-old
//! sees no sharing controls, a 16-year-old hides grades. Every page passes axe-core without
//! serious or critical violations. Screenshots go to `target/screenshots/`.
//!
//! Needs `chromium`, `chromium-driver` and `target/axe/node_modules/axe-core/axe.min.js`
//! (`.ci/run` installs them); without them the tests skip loudly, and fail under `CI=true`.

mod prefs;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use chrono::Duration;
use fantoccini::{Client, ClientBuilder, Locator};
use prefs::*;
use rustig::clock::Clock;
use rustig::model::Role;
use rustig::prefs::token::Keyring;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn axe_path() -> PathBuf {
    repo().join("target/axe/node_modules/axe-core/axe.min.js")
}

/// Skips (loudly) without the browser or axe-core; under CI=true that is a failure.
fn tools_present() -> bool {
    let missing: Vec<&str> = [
        ("chromedriver", which("chromedriver")),
        ("chromium", which("chromium")),
        ("axe-core (target/axe)", axe_path().exists()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(n, _)| n)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}; .ci/run installs them", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("\n========== SKIPPED: {why} ==========\n");
    false
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

struct Driver {
    child: Child,
    client: Client,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--lang=nl"],
                // A phone 360 px wide (a desktop window cannot be made that narrow).
                "mobileEmulation": {"deviceMetrics": {"width": 360, "height": 800, "pixelRatio": 2}}
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(http)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Driver { child, client },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last:?}");
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn screenshot(&self, name: &str) {
        let dir = repo().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// axe-core on the current page: no serious or critical violation.
    async fn axe(&self, what: &str) {
        let axe = std::fs::read_to_string(axe_path()).unwrap();
        self.client.execute(&axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))))
                    .catch(e => done('axe failed: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        let list = result
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {result}"));
        let bad: Vec<_> = list
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{what}: axe-core found {bad:#?}");
        if !list.is_empty() {
            eprintln!("{what}: minor axe findings: {list:?}");
        }
    }

    /// The page fits 360 px: nothing scrolls sideways.
    async fn fits(&self, what: &str) {
        let w = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
        assert!(
            inner <= 360 && scroll <= inner,
            "{what}: {scroll} px wide in a {inner} px window"
        );
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }
}

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
