//! The dashboard in a real browser (Chromium through chromedriver), against a daemon on a
//! scripted week (tests/common/dashboard.rs), at 360 px and on a desktop: log in, the pages
//! pass axe-core without serious or critical violations and fit the window, search a
//! student's timeline, resend a dead notice and find it in the audit trail. Screenshots of
//! every page go to `target/screenshots/dashboard-*.png`.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/dashboard.rs"]
mod dash;

use browser::{tools_present, Driver};
use fantoccini::Locator;
use rustig::clock::Clock;

/// Logs in with `token` through the form.
async fn login(b: &Driver, base: &str, token: &str) {
    b.client.goto(base).await.unwrap();
    b.fill("#token", token).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css("nav a[aria-current=page]"))
        .await
        .unwrap();
}

/// Checks and saves the page: fits the window, passes axe-core.
async fn check(b: &Driver, name: &str) {
    let what = format!("{name} at {} px", b.width);
    b.fits(&what).await;
    b.axe(&what).await;
    b.full_screenshot(&format!("dashboard-{name}-{}", b.width))
        .await;
}

async fn walk(f: &dash::Fixture, width: u32, act: bool) {
    let b = Driver::start_at(width).await;
    b.client.goto(&f.base).await.unwrap();
    assert!(b.has("input#token[type=password]").await);
    // The phone in Dutch (by the language link), the desktop in English.
    let lang = if width <= 480 { "nl" } else { "en" };
    if !b.has(&format!("html[lang={lang}]")).await {
        b.click(&format!("a[hreflang={lang}]")).await;
    }
    assert!(b.has(&format!("html[lang={lang}]")).await);
    check(&b, "login").await;
    login(&b, &f.base, dash::READ).await;
    assert!(b.client.current_url().await.unwrap().path() == "/now");
    check(&b, "now").await;
    assert_eq!(b.count("#dead-form input[name=id]").await, 1);

    // The week ahead: a bar per busy hour, the blackouts shaded; a bar opens its contents.
    b.client.goto(&format!("{}/week", f.base)).await.unwrap();
    assert_eq!(b.count("#week-chart rect.bar").await, f.busy_hours().await);
    for kind in ["quiet", "weekend", "holiday"] {
        assert!(
            b.count(&format!("#week-chart rect.shade.{kind}")).await > 0,
            "{kind}"
        );
    }
    check(&b, "week").await;
    // By keyboard: the first Tab reaches the skip link, which leads to the content; each
    // bar is a link in the tab order.
    b.client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = b
        .client
        .execute(
            "return document.activeElement.getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, "#main");
    let bars_in_tab_order = b
        .client
        .execute(
            "return [...document.querySelectorAll('#week-chart a.barlink')].filter(a => a.tabIndex >= 0).length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        bars_in_tab_order.as_u64().unwrap() as usize,
        f.busy_hours().await
    );
    b.click("#week-chart a.barlink").await;
    b.client
        .wait()
        .for_element(Locator::Css("#bar-form"))
        .await
        .unwrap();
    assert!(b.count("#bar tbody tr").await >= 1);
    check(&b, "bar").await;

    for page in ["rules", "calm"] {
        b.client.goto(&format!("{}/{page}", f.base)).await.unwrap();
        assert!(b.has(&format!("#{page}")).await, "{page}");
        check(&b, page).await;
    }

    // A what-if that moves quiet hours to 19:00, uploaded as a file: the moved counts.
    {
        let current = std::fs::read_to_string(&f.config_path).unwrap();
        let candidate = current.replace("start = \"20:00\"", "start = \"19:00\"");
        let path = f.tmp.path().join("candidate.toml");
        std::fs::write(&path, &candidate).unwrap();
        b.client.goto(&format!("{}/whatif", f.base)).await.unwrap();
        check(&b, "whatif").await;
        b.client
            .find(Locator::Css("#file"))
            .await
            .unwrap()
            .send_keys(&path.display().to_string())
            .await
            .unwrap();
        b.click("#whatif-form button[type=submit]").await;
        b.client
            .wait()
            .for_element(Locator::Css("#whatif-result"))
            .await
            .unwrap();
        let later = b
            .client
            .find(Locator::Css("#moved-replay tr.total td:nth-of-type(2)"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The page shows what the what-if computes on the same store at the same instant.
        let ctx = rustig::whatif::Ctx {
            store: f.d.store.clone(),
            shared: f.d.shared.clone(),
            now: f.clock.now(),
        };
        let report = rustig::whatif::run(&ctx, candidate.as_bytes(), rustig::whatif::DEFAULT_DAYS)
            .await
            .unwrap();
        let expected = report.replay.diff.total.later;
        assert!(expected >= 1, "quiet hours from 19:00 move something later");
        assert_eq!(later.trim().parse::<u32>().unwrap(), expected, "{later}");
        b.client
            .execute(
                "document.getElementById('whatif-result').scrollIntoView();",
                vec![],
            )
            .await
            .unwrap();
        check(&b, "whatif-result").await;
    }

    // A student's timeline, from the search form.
    b.client.goto(&format!("{}/student", f.base)).await.unwrap();
    b.fill("#student-id", "s-1").await;
    b.click("form[role=search] button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css("#timeline-h"))
        .await
        .unwrap();
    let html = b.source().await;
    assert!(html.contains("3c"), "the class");
    assert!(b.count("#waiting tbody tr").await >= 2, "{html}");
    assert!(b.count("#sent tbody tr").await >= 1, "{html}");
    check(&b, "student").await;

    if act {
        // Resend the dead notice with the operate token; the audit trail shows it.
        b.client.goto(&format!("{}/now", f.base)).await.unwrap();
        b.click("#dead-form input[name=id]").await;
        b.fill("#dead-token", dash::OPERATE).await;
        b.click("#dead-form button[value=selected]").await;
        b.client
            .wait()
            .for_element(Locator::Css("#flash"))
            .await
            .unwrap();
        let flash = b
            .client
            .find(Locator::Css("#flash"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(flash.contains("1"), "{flash}");
        check(&b, "now-resent").await;
        b.client.goto(&format!("{}/audit", f.base)).await.unwrap();
        let audit = b.source().await;
        assert!(
            audit.contains("notices.resend") && audit.contains("admin:mentor"),
            "{audit}"
        );
        check(&b, "audit").await;
    }

    // Logging out is a form too.
    b.click("form[action='/logout'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css("input#token"))
        .await
        .unwrap();
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_walks_the_dashboard_at_360_px_and_on_a_desktop() {
    if !tools_present() {
        return;
    }
    let f = dash::start().await;
    f.script_week().await;
    walk(&f, 360, true).await;
    f.wait_dead(1).await;
    walk(&f, 1280, false).await;
    f.d.shutdown().await;
}
