//! The preference page over HTTP against the daemon (in process, manual clock): a guardian
//! opens the link from a real `.eml`, switches to weekly and the pending notice moves to
//! Friday 17:00; a 15-year-old has no sharing controls, a 16-year-old hides grades and the
//! guardian's next grade notice disappears while a report grade still comes; one-click
//! unsubscribe as mail providers send it; and bad input of every kind.

mod prefs;

use chrono::Duration;
use prefs::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use rustig::clock::Clock;
use rustig::model::Role;
use rustig::prefs::token::Keyring;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A page as a browser gets it: status, body, the form cookie.
async fn get(url: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let mut req = client().get(url);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    (status, r.text().await.unwrap(), cookie)
}

async fn post(url: &str, cookie: Option<&str>, body: String) -> (u16, String, Option<String>) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), loc)
}

/// The form fields of a page plus `extra`, urlencoded.
fn form(page: &str, extra: &[(&str, &str)]) -> String {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    f.append_pair("csrf", &hidden(page, "csrf"));
    f.append_pair("version", &hidden(page, "version"));
    for (k, v) in extra {
        f.append_pair(k, v);
    }
    f.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_switches_to_weekly_from_the_link_in_an_email() {
    let f = start("2026-11-23T08:40:00+01:00").await;
    f.post(absence("abs-1", "s-15", "2026-11-23T08:40:00+01:00"))
        .await;
    f.at("2026-11-23T09:00:00+01:00").await;
    f.post(grade("g-1", "s-15", "2026-11-23T09:00:00+01:00", "test"))
        .await;
    f.at("2026-11-23T09:30:00+01:00").await;

    // Both guardians were told of the absence; their pending grade notice is Tuesday 17:00.
    let anna = f.mail_to("anna@example.nl");
    assert_eq!(anna.len(), 1, "{:?}", f.outbox());
    let link = settings_link(&anna[0]);
    assert!(link.starts_with(&format!("{}p/", f.base)), "{link}");
    // RFC 8058 headers in the email, the one-click address beside the page.
    let unsub = header(&anna[0], "List-Unsubscribe").unwrap();
    assert_eq!(unsub, format!("<{}>", link.replace("/p/", "/u/")));
    assert_eq!(
        header(&anna[0], "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let tuesday = at("2026-11-24T17:00:00+01:00");
    let before = f.notices("g-1").await;
    assert_eq!(
        before.iter().find(|n| n.0 == "g-2001").unwrap().1,
        tuesday,
        "{before:?}"
    );

    // The page, in Dutch (Anna's language), with the form cookie.
    let (status, page, cookie) = get(&link, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"nl\">"));
    assert!(page.contains("Hallo Anna"));
    assert!(page.contains("Rapportcijfers gaan altijd naar ouders"));
    assert!(
        page.contains("Je ziet toetscijfers en absenties van Merel."),
        "{page}"
    );
    let cookie = cookie.expect("a form cookie");

    let (status, _, loc) = post(
        &link,
        Some(&cookie),
        form(
            &page,
            &[("frequency", "weekly"), ("on", "email"), ("locale", "nl")],
        ),
    )
    .await;
    assert_eq!(status, 303);
    assert!(loc.unwrap().ends_with("?saved=1"));

    // Re-planned at once: Anna's grade notice waits for Friday 17:00 with a `preference`
    // step; Peter's stays on Tuesday.
    let after = f.notices("g-1").await;
    let friday = at("2026-11-27T17:00:00+01:00");
    let anna_n = after.iter().find(|n| n.0 == "g-2001").unwrap();
    assert_eq!(anna_n.1, friday, "{after:?}");
    assert_eq!(anna_n.2.last().map(String::as_str), Some("preference"));
    let peter_n = after.iter().find(|n| n.0 == "g-2002").unwrap();
    assert_eq!(peter_n.1, tuesday);

    // The saved page says so, and the change is audited by Anna as guardian.
    let (_, page, _) = get(&format!("{link}?saved=1"), Some(&cookie)).await;
    assert!(page.contains("Opgeslagen"));
    assert!(page.contains("value=\"weekly\" checked"));
    let trail =
        f.d.store
            .audit()
            .list(&Default::default(), None, 100)
            .await
            .unwrap();
    let e = trail
        .iter()
        .find(|e| e.entry.action == "preferences.set")
        .unwrap();
    assert_eq!(
        (e.entry.actor.as_str(), e.entry.target.as_str()),
        ("guardian:g-2001", "guardian:g-2001")
    );
    assert_eq!(
        e.entry.after.as_ref().unwrap()["frequency"]["every"],
        "weekly"
    );

    // `rustig explain --event-id` shows the step.
    f.d.shutdown().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["explain", "--config"])
        .arg(&f.config_path)
        .args(["--event-id", "g-1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("g-2001"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("due Fri 27 Nov 17:00"), "{line}");
    assert!(
        line.contains("preference: \"0 17 * * fri\" → Fri 27 Nov 17:00"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_control_sharing_from_16_and_report_grades_still_come() {
    let f = start("2026-11-23T09:00:00+01:00").await;
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    let now = f.clock.now();
    let link = |who: &str| {
        format!(
            "{}p/{}",
            f.base,
            keys.sign("coornhert", Role::Student, who, now, Duration::days(30))
        )
    };

    // 15: no sharing controls; a forged attempt to set them is refused.
    let (status, page, cookie) = get(&link("s-15"), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"no-sharing\""));
    assert!(!page.contains("name=\"share_grades\""));
    let (status, page15, _) = post(
        &link("s-15"),
        cookie.as_deref(),
        form(
            &page,
            &[
                ("own", "immediate"),
                ("on", "email"),
                ("share_grades", "no"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 422);
    assert!(page15.contains("op jouw leeftijd"), "{page15}");

    // 16: hides test grades.
    let (status, page, cookie) = get(&link("s-16"), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"share_grades\""));
    let (status, _, _) = post(
        &link("s-16"),
        cookie.as_deref(),
        form(
            &page,
            &[
                ("own", "immediate"),
                ("on", "email"),
                ("share_grades", "no"),
                ("share_absences", "yes"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 303);

    // Her guardian's next test grade notice is gone; a report grade still comes.
    f.post(grade("t-1", "s-16", "2026-11-23T09:05:00+01:00", "test"))
        .await;
    f.post(grade(
        "rep-1",
        "s-16",
        "2026-11-23T09:06:00+01:00",
        "report",
    ))
    .await;
    let test = f.notices("t-1").await;
    assert_eq!(
        test.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["s-16"]
    );
    let report = f.notices("rep-1").await;
    assert!(report.iter().any(|n| n.0 == "g-3001"), "{report:?}");

    // Karin's page tells her, without secrets.
    let karin = format!(
        "{}p/{}",
        f.base,
        keys.sign(
            "coornhert",
            Role::Guardian,
            "g-3001",
            now,
            Duration::days(30)
        )
    );
    let (_, page, _) = get(&karin, None).await;
    assert!(
        page.contains("Sanne heeft gekozen om absenties te delen, geen toetscijfers; rapportcijfers worden altijd gedeeld."),
        "{page}"
    );
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_as_mail_providers_send_it() {
    let f = start("2026-11-23T09:00:00+01:00").await;
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    let token = keys.sign(
        "coornhert",
        Role::Guardian,
        "g-2002",
        f.clock.now(),
        Duration::days(30),
    );
    let url = format!("{}u/{token}", f.base);
    // A GET (a link scanner) changes nothing.
    let (status, page, _) = get(&url, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("List-Unsubscribe"));
    assert!(f
        .d
        .store
        .preferences()
        .choice("coornhert", "g-2002")
        .await
        .unwrap()
        .is_none());
    // Without the one-click body: refused.
    let (status, _, _) = post(&url, None, "x=1".into()).await;
    assert_eq!(status, 400);
    // As RFC 8058 says: no cookie, the body `List-Unsubscribe=One-Click`.
    let (status, page, _) = post(&url, None, "List-Unsubscribe=One-Click".into()).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("what the law requires keeps coming"),
        "{page}"
    );
    let c =
        f.d.store
            .preferences()
            .choice("coornhert", "g-2002")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        serde_json::to_value(&c.choice).unwrap(),
        serde_json::json!({"frequency": {"every": "weekly"}})
    );
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_links_and_bad_forms_change_nothing() {
    let f = start("2026-11-23T09:00:00+01:00").await;
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    let now = f.clock.now();
    let token = keys.sign(
        "coornhert",
        Role::Guardian,
        "g-2001",
        now,
        Duration::days(30),
    );
    let good = format!("{}p/{token}", f.base);

    // Forged with another key, tampered, expired, another family's id under Anna's
    // signature, rubbish: all the same neutral 403.
    let forged = Keyring::single("k1", &[9u8; 32]).sign(
        "coornhert",
        Role::Guardian,
        "g-2001",
        now,
        Duration::days(30),
    );
    let expired = keys.sign(
        "coornhert",
        Role::Guardian,
        "g-2001",
        now - Duration::days(31),
        Duration::days(30),
    );
    let (p, tag) = token.split_once('.').unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(b64.decode(p).unwrap()).unwrap();
    let other = format!("{}.{tag}", b64.encode(payload.replace("g-2001", "g-3001")));
    let mut neutral = None;
    for t in [
        forged,
        expired,
        other,
        "nonsense".into(),
        format!("{token}x"),
    ] {
        let (status, body, _) = get(&format!("{}p/{t}", f.base), None).await;
        assert_eq!(status, 403, "{t}");
        assert!(!body.contains("Anna") && !body.contains("Karin"));
        match &neutral {
            None => neutral = Some(body),
            Some(n) => assert_eq!(&body, n, "every refusal looks the same"),
        }
    }
    assert!(neutral.unwrap().contains("Deze link werkt niet"));

    let (_, page, cookie) = get(&good, None).await;
    let cookie = cookie.unwrap();
    // No cookie (another site posting the form), a wrong CSRF tag: refused.
    let (status, _, _) = post(&good, None, form(&page, &[("frequency", "weekly")])).await;
    assert_eq!(status, 403);
    let tampered = form(&page, &[("frequency", "weekly")]).replace("csrf=", "csrf=0");
    let (status, _, _) = post(&good, Some(&cookie), tampered).await;
    assert_eq!(status, 403);
    // Unknown fields and values no form offers.
    let (status, _, _) = post(&good, Some(&cookie), form(&page, &[("student", "s-16")])).await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        &good,
        Some(&cookie),
        form(&page, &[("frequency", "hourly")]),
    )
    .await;
    assert_eq!(status, 400);
    // An oversize body: 413 from the listener.
    let big = form(&page, &[("frequency", &"x".repeat(64 * 1024))]);
    let (status, _, _) = post(&good, Some(&cookie), big).await;
    assert_eq!(status, 413);
    // All channels off is refused with a reason.
    let (status, body, _) = post(
        &good,
        Some(&cookie),
        form(&page, &[("frequency", "weekly")]),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("minstens één kanaal"), "{body}");
    assert!(f
        .d
        .store
        .preferences()
        .choice("coornhert", "g-2001")
        .await
        .unwrap()
        .is_none());

    // A good form once; replayed, it is stale (409) and changes nothing.
    let ok = form(&page, &[("frequency", "daily"), ("on", "email")]);
    let (status, _, _) = post(&good, Some(&cookie), ok.clone()).await;
    assert_eq!(status, 303);
    let (status, body, _) = post(&good, Some(&cookie), ok.replace("daily", "weekly")).await;
    assert_eq!(status, 409);
    assert!(body.contains("intussen ergens anders gewijzigd"));
    let c =
        f.d.store
            .preferences()
            .choice("coornhert", "g-2001")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        serde_json::to_value(&c.choice).unwrap()["frequency"]["every"],
        "daily"
    );
    // Security headers on every page.
    let r = client().get(&good).send().await.unwrap();
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    // Nothing else is served here (no admin or ingest routes).
    let (status, _, _) = get(&format!("{}v1/events", f.base), None).await;
    assert_eq!(status, 404);
    f.d.shutdown().await;
}
