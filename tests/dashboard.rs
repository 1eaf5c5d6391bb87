//! The dashboard over HTTP, on the daemon's admin listener: the log-in form and its session
//! cookie (HttpOnly, SameSite=Strict, no token in any URL), pages refused without a session,
//! forms refused without the session's CSRF token, actions refused to a read token and
//! audited under the operate token's name, failed log-ins rate-limited.

mod common;
#[path = "common/dashboard.rs"]
mod dash;

use dash::{Fixture, OPERATE, READ};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A logged-in browser, as far as these tests need one: the session cookie.
struct Session {
    cookie: String,
    base: String,
}

impl Session {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token the page's forms carry.
    async fn csrf(&self) -> String {
        let (_, html) = self.get("/now").await;
        hidden(&html, "csrf")
    }
}

fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    html[i + pat.len()..].split('"').next().unwrap().to_string()
}

async fn login(f: &Fixture, token: &str) -> Session {
    let r = client()
        .post(format!("{}/login", f.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    Session {
        cookie: set.split(';').next().unwrap().to_string(),
        base: f.base.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_form_sets_a_strict_http_only_session_cookie_and_no_token_travels_in_a_url() {
    let f = dash::start().await;
    let (status, html) = (
        client().get(&f.base).send().await.unwrap().status(),
        client()
            .get(&f.base)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"nl\">"), "{html}");
    assert!(html.contains(r#"<form method="post" action="/login""#));
    assert!(html.contains(r#"type="password" id="token" name="token""#));

    // A wrong token: 401, no cookie.
    let r = client()
        .post(format!("{}/login", f.base))
        .form(&[("token", "wrong-token-0123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(SET_COOKIE).is_none());

    let r = client()
        .post(format!("{}/login", f.base))
        .form(&[("token", READ)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()[LOCATION].to_str().unwrap();
    assert_eq!(location, "/now");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("rustig_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(READ));
    let id = cookie.split(';').next().unwrap()["rustig_session=".len()..].to_string();
    assert_eq!(id.len(), 64, "32 random bytes");

    // Behind a TLS proxy that says so: Secure.
    let r = client()
        .post(format!("{}/login", f.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", READ)])
        .send()
        .await
        .unwrap();
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));

    // The pages: no token anywhere, and every link and form stays on plain paths.
    let s = Session {
        cookie: format!("rustig_session={id}"),
        base: f.base.clone(),
    };
    for path in ["/now", "/student?student=s-1", "/audit"] {
        let (status, html) = s.get(path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(!html.contains(READ) && !html.contains(OPERATE), "{path}");
        assert!(html.contains("desk"), "{path}: who is logged in");
        for attr in ["href=\"", "action=\""] {
            for part in html.split(attr).skip(1) {
                let url = part.split('"').next().unwrap();
                assert!(!url.contains("token"), "{path}: {url}");
            }
        }
    }
    // A logged-in visitor of `/` goes on to the first page.
    let r = client()
        .get(&f.base)
        .header(COOKIE, &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), r.headers()[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/now")
    );

    let audit = f.audit().await;
    assert!(
        audit.iter().any(|a| a
            == &(
                "admin:desk".into(),
                "dashboard.login".into(),
                "dashboard".into()
            )),
        "{audit:?}"
    );

    // Logging out ends the session (with the form's CSRF token) and is audited.
    let csrf = s.csrf().await;
    let r = s.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _) = s.get("/now").await;
    assert_eq!(status, 303, "the session is gone");
    assert!(f
        .audit()
        .await
        .iter()
        .any(|a| a.0 == "admin:desk" && a.1 == "dashboard.logout"));
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_pages_go_to_the_login_and_forms_get_401() {
    let f = dash::start().await;
    for path in ["/now", "/student?student=s-1", "/audit"] {
        let r = client()
            .get(format!("{}{path}", f.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()[LOCATION], "/");
        // A made-up session id is no session.
        let r = client()
            .get(format!("{}{path}", f.base))
            .header(COOKIE, format!("rustig_session={}", "ab".repeat(32)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
    }
    for path in ["/now/dead", "/now/quarantine", "/notices", "/logout"] {
        let r = client()
            .post(format!("{}{path}", f.base))
            .form(&[("csrf", "x"), ("operate_token", OPERATE), ("scope", "all")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    // The pages are not in the API's document.
    let spec = common::daemon::get_json(&format!("{}/v1/openapi.json", f.base), READ).await;
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/status"));
    for page in ["/", "/login", "/now", "/week", "/whatif", "/student"] {
        assert!(!paths.contains_key(page), "{page}");
    }
    // The JSON API is unchanged beside the pages: its 401 and its JSON 404.
    let r = client()
        .get(format!("{}/v1/status", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(format!("{}/no/such/page", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_the_csrf_token_and_an_operate_token_and_are_audited() {
    let f = dash::start().await;
    f.script_week().await;
    let s = login(&f, READ).await;
    let (_, html) = s.get("/now").await;
    assert!(html.contains("id=\"dead-form\""), "{html}");
    let dead = f.d.store.counts().await.unwrap().dead;
    assert_eq!(dead, 1);
    let csrf = s.csrf().await;

    // No CSRF token, or another one: refused, nothing changed.
    for form in [
        vec![("operate_token", OPERATE), ("scope", "all")],
        vec![
            ("csrf", "0000"),
            ("operate_token", OPERATE),
            ("scope", "all"),
        ],
    ] {
        let r = s.post("/now/dead", &form).await;
        assert_eq!(r.status(), 403);
    }
    // The read token the session was opened with does not operate; nor does a wrong one.
    for token in [READ, "", "wrong-token-0123456789"] {
        let r = s
            .post(
                "/now/dead",
                &[("csrf", &csrf), ("operate_token", token), ("scope", "all")],
            )
            .await;
        assert_eq!(r.status(), 403, "{token:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains("operate-token"), "{html}");
    }
    assert_eq!(f.d.store.counts().await.unwrap().dead, 1, "nothing resent");
    assert!(!f.audit().await.iter().any(|a| a.1 == "notices.resend"));

    // With the operate token: resent, back to the page with the outcome, audited as the
    // API audits it, under the operate token's name.
    let id = hidden(&html, "id");
    let r = s
        .post(
            "/now/dead",
            &[
                ("csrf", &csrf),
                ("operate_token", OPERATE),
                ("id", &id),
                ("scope", "selected"),
                ("back", "/now"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/now");
    let (_, page) = s.get("/now").await;
    assert!(
        page.contains("Opnieuw ingepland, nu te versturen: 1"),
        "{page}"
    );
    let audit = f.audit().await;
    assert!(
        audit.contains(&(
            "admin:mentor".into(),
            "notices.resend".into(),
            format!("notices:{id}")
        )),
        "{audit:?}"
    );
    f.wait_dead(1).await;

    // Cancel a pending notice from its student's timeline; the look-up is audited too.
    let (status, timeline) = s.get("/student?student=s-1").await;
    assert_eq!(status, 200);
    assert!(timeline.contains("3c"), "the class");
    assert!(
        !timeline.contains("Merel") && !timeline.contains("6,8"),
        "no names or grades"
    );
    assert!(f
        .audit()
        .await
        .iter()
        .any(|a| a.0 == "admin:desk" && a.1 == "dashboard.student" && a.2 == "student:s-1"));
    let pending = f.pending_due().await.len();
    let first = timeline
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = s
        .post(
            "/notices",
            &[
                ("csrf", &csrf),
                ("operate_token", OPERATE),
                ("id", &first),
                ("do", "cancel"),
                ("back", "/student?student=s-1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/student?student=s-1");
    assert_eq!(f.pending_due().await.len(), pending - 1);
    assert!(f.audit().await.contains(&(
        "admin:mentor".into(),
        "notices.cancel".into(),
        format!("notice:{first}")
    )));
    // An unknown field is refused; a back link to another host is not followed.
    let r = s
        .post("/notices", &[("csrf", &csrf), ("student", "s-1")])
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .post(
            "/notices",
            &[
                ("csrf", &csrf),
                ("operate_token", OPERATE),
                ("notice_id", "999999"),
                ("do", "release"),
                ("back", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.headers()[LOCATION], "/now");
    let (_, page) = s.get("/now").await;
    assert!(page.contains("no notice 999999"), "{page}");
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_address_out() {
    let f = dash::start().await;
    for _ in 0..10 {
        let r = client()
            .post(format!("{}/login", f.base))
            .form(&[("token", "guess-0123456789abcdef")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = client()
        .post(format!("{}/login", f.base))
        .form(&[("token", READ)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "even the right token, for a while");
    assert!(r.headers().get(SET_COOKIE).is_none());
    f.d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_english_when_asked_and_remember_it() {
    let f = dash::start().await;
    let r = client()
        .get(&f.base)
        .header("accept-language", "en-GB,en;q=0.9,nl;q=0.4")
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Log in"));
    let s = login(&f, OPERATE).await;
    let r = client()
        .get(format!("{}/now?lang=en", f.base))
        .header(COOKIE, &s.cookie)
        .send()
        .await
        .unwrap();
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.starts_with("rustig_lang=en") && set.contains("SameSite=Strict"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Failed notices") || html.contains("No failed notices"));
    // (minijinja escapes `/` as `&#x2f;`, which the browser reads as `/`.)
    assert!(
        html.contains("href=\"&#x2f;now?lang=nl\"") || html.contains("href=\"/now?lang=nl\""),
        "the switch back: {html}"
    );
    let r = client()
        .get(format!("{}/now", f.base))
        .header(COOKIE, format!("{}; rustig_lang=en", s.cookie))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("<html lang=\"en\">"));
    f.d.shutdown().await;
}

/// The week chart draws a bar for every hour with pending notices (as the store has them
/// and `/v1/week` counts them) and a shaded piece for every blackout on every local day it
/// covers; a bar opens the list of what is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_week_chart_has_a_bar_per_busy_hour_and_the_blackouts_shaded() {
    use chrono::DateTime;
    let f = dash::start().await;
    f.script_week().await;
    let s = login(&f, READ).await;
    let (status, html) = s.get("/week").await;
    assert_eq!(status, 200, "{html}");

    // Expected from the store: the distinct hours of pending due times in the seven days
    // from the current hour.
    let hours = f.busy_hours().await;
    assert!(hours >= 2, "{hours}");
    assert_eq!(html.matches("<rect class=\"bar\"").count(), hours, "{html}");

    // And from the API: the same bars, and each blackout shaded on each day it covers.
    let week =
        common::daemon::get_json(&format!("{}/v1/week?school=coornhert", f.base), READ).await;
    let busy = week["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["total"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(busy, hours);
    let tz: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
    for kind in ["quiet", "weekend", "holiday"] {
        let pieces: usize = week["blackouts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["kind"] == kind)
            .map(|b| {
                let t = |k: &str| {
                    DateTime::parse_from_rfc3339(b[k].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&tz)
                };
                let (a, z) = (t("start"), t("end"));
                let last = if z.time() == chrono::NaiveTime::MIN {
                    z.date_naive().pred_opt().unwrap()
                } else {
                    z.date_naive()
                };
                (last - a.date_naive()).num_days() as usize + 1
            })
            .sum();
        assert!(pieces > 0, "{kind}: {week}");
        assert_eq!(
            html.matches(&format!("class=\"shade {kind}\"")).count(),
            pieces,
            "{kind}"
        );
    }
    // Thursday 26 November, a holiday, is shaded from 0:00 to 24:00.
    let thursday = html.split("data-date=\"2026-11-26\"").nth(1).unwrap();
    let thursday = thursday.split("</svg>").next().unwrap();
    assert!(
        thursday.contains(r#"class="shade holiday" x="0.0" y="0.0" width="480.0""#),
        "{thursday}"
    );
    assert!(
        html.contains("id=\"week-table\""),
        "the table beside the chart"
    );

    // A bar's contents: its notices by id, student id and class, each with its reasons.
    let href = html
        .split("<a href=\"")
        .find(|p| p.starts_with("&#x2f;week&#x2f;bar") || p.starts_with("/week/bar"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let (status, bar) = s.get(&href).await;
    assert_eq!(status, 200, "{href}: {bar}");
    assert!(bar.contains("id=\"bar-form\""), "{bar}");
    assert!(bar.contains("s-1") && bar.contains("3c"), "{bar}");
    assert!(bar.contains("<ol class=\"why\"><li>"), "the reason chain");
    assert!(!bar.contains("Merel") && !bar.contains("6,8"));
    let (status, _) = s.get("/week/bar?school=nowhere&start=0").await;
    assert_eq!(status, 404);
    let (status, _) = s.get("/week?school=nowhere").await;
    assert_eq!(status, 404);
    f.d.shutdown().await;
}

/// The rules in plain words, downloadable as a page of its own in both languages; the calm
/// report of the scripted week.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_download_and_the_calm_report() {
    let f = dash::start().await;
    f.script_week().await;
    let s = login(&f, READ).await;
    let (status, html) = s.get("/rules").await;
    assert_eq!(status, 200);
    assert!(html.contains("Wanneer hoor ik over een cijfer?"), "{html}");
    for (locale, title) in [
        ("nl", "Wanneer hoor ik over een cijfer?"),
        ("en", "When do I hear about a grade?"),
    ] {
        let r = client()
            .get(format!(
                "{}/rules/download?school=coornhert&locale={locale}",
                f.base
            ))
            .header(COOKIE, &s.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-disposition"],
            format!("attachment; filename=\"rules-coornhert-{locale}.html\"").as_str()
        );
        let page = r.text().await.unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(&format!("<html lang=\"{locale}\">")));
        assert!(page.contains(title));
    }

    let (status, html) = s.get("/calm?school=coornhert&week=2026-W48").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"calm\""));
    assert!(html.contains("2026-W48"));
    // Sent on Monday: the student's two notices and the guardian's absence notice.
    let sent = f.d.store.counts().await.unwrap().sent;
    assert!(sent >= 2);
    assert!(html.contains("id=\"calm-verdict\""));
    assert!(html.contains("Niets verstuurd in stille uren"), "{html}");
    let (status, _) = s.get("/calm?week=48").await;
    assert_eq!(status, 400);
    f.d.shutdown().await;
}

/// A multipart body with the given text fields (a `file` part is sent as a file).
fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----rustigtestboundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if *name == "file" {
            body.extend_from_slice(
                b"Content-Disposition: form-data; name=\"file\"; filename=\"candidate.toml\"\r\n\
                  Content-Type: application/octet-stream\r\n\r\n",
            );
        } else {
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Session {
    async fn post_multipart(&self, path: &str, fields: &[(&str, &[u8])]) -> reqwest::Response {
        let (ct, body) = multipart(fields);
        client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// The what-if form: a candidate with errors shows each with its line; a binary or huge
/// upload is refused; quiet hours from 19:00 show the moved counts; applying needs the
/// operate token, keeps the old file as `.bak` and is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_what_if_form_checks_compares_and_applies_with_the_operate_token() {
    let f = dash::start().await;
    f.script_week().await;
    let s = login(&f, READ).await;
    let (status, page) = s.get("/whatif").await;
    assert_eq!(status, 200);
    assert!(page.contains("enctype=\"multipart/form-data\""));
    let csrf = s.csrf().await;
    let current = std::fs::read_to_string(&f.config_path).unwrap();

    // Without the CSRF token: refused.
    let r = s
        .post_multipart("/whatif", &[("candidate", current.as_bytes())])
        .await;
    assert_eq!(r.status(), 403);

    // Two errors, each with its line.
    let bad = current
        .replace("start = \"20:00\"", "start = \"25:00\"")
        .replace("settle = \"45m\"", "settle = \"soon\"");
    let r = s
        .post_multipart(
            "/whatif",
            &[("csrf", csrf.as_bytes()), ("candidate", bad.as_bytes())],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for needle in ["25:00", "soon"] {
        assert!(
            html.contains(&format!("regel {},", line_of(needle))),
            "{needle}: {html}"
        );
    }
    assert!(html.contains("id=\"whatif-errors\""));

    // A binary file: 400; a file over 256 KiB: 413.
    let r = s
        .post_multipart(
            "/whatif",
            &[
                ("csrf", csrf.as_bytes()),
                ("file", b"\x89PNG\r\n\x1a\n\x00\x00"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let huge = format!("# {}\n{current}", "x".repeat(300 * 1024));
    let r = s
        .post_multipart(
            "/whatif",
            &[("csrf", csrf.as_bytes()), ("file", huge.as_bytes())],
        )
        .await;
    assert_eq!(r.status(), 413);

    // Quiet hours from 19:00, uploaded as a file: Monday's 19:30 notice to the student would
    // have waited for Tuesday 07:00.
    let candidate = current.replace("start = \"20:00\"", "start = \"19:00\"");
    let r = s
        .post_multipart(
            "/whatif",
            &[
                ("csrf", csrf.as_bytes()),
                ("candidate", b""),
                ("file", candidate.as_bytes()),
                ("days", b"14"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"whatif-result\""), "{html}");
    let replay = html.split("id=\"moved-replay\"").nth(1).unwrap();
    let total = replay.split("class=\"total\"").nth(1).unwrap();
    let cells: Vec<u32> = total
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().parse().unwrap())
        .take(5)
        .collect();
    assert!(cells[1] >= 1, "later: {cells:?} in {replay}");
    assert_eq!(cells[0], 0, "nothing earlier: {cells:?}");
    // The week ahead under both configs side by side, and the calm figures under both.
    let charts = html.matches("<svg class=\"chart\"").count();
    assert!(charts >= 14, "two weeks of day rows: {charts}");
    assert!(
        html.contains("id=\"b-coornhert-2026-11-24\"")
            && html.contains("id=\"a-coornhert-2026-11-24\"")
    );
    assert!(html.contains("class=\"calmpair\""));
    // Nothing changed by trying.
    assert_eq!(std::fs::read_to_string(&f.config_path).unwrap(), current);

    // Applying: refused with the read token, done with the operate token.
    let base = hidden(&html, "base_sha256");
    let apply = |token: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("operate_token", token.to_string()),
            ("candidate", candidate.clone()),
            ("base_sha256", base.clone()),
        ]
    };
    let form = apply(READ);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.post("/whatif/apply", &form).await;
    assert_eq!(r.status(), 403);
    assert_eq!(std::fs::read_to_string(&f.config_path).unwrap(), current);
    let form = apply(OPERATE);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.post("/whatif/apply", &form).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(std::fs::read_to_string(&f.config_path).unwrap(), candidate);
    let bak = f.config_path.with_file_name("rustig.toml.bak");
    assert_eq!(std::fs::read_to_string(bak).unwrap(), current);
    assert!(f
        .audit()
        .await
        .iter()
        .any(|a| a.0 == "admin:mentor" && a.1 == "config.apply"));
    f.d.shutdown().await;
}
