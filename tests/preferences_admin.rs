//! The school's side of the families' choices (`rustig::prefs::admin::router`), served on
//! its own with the admin caller set as the admin listener will: a mentor views and
//! overrides a choice with a reason (audited), revokes links, and exports a person's data.

mod prefs;

use axum::Extension;
use chrono::Duration;
use prefs::*;
use rustig::clock::Clock;
use rustig::model::Role;
use rustig::prefs::admin::{router, AdminActor};
use rustig::prefs::token::Keyring;
use serde_json::json;

async fn serve(r: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, r).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mentor_views_overrides_revokes_and_exports() {
    let f = start("2026-11-23T09:00:00+01:00").await;
    let p = f.d.prefs.clone().unwrap();
    let open = serve(router(p.clone())).await;
    let admin = serve(router(p).layer(Extension(AdminActor("mentor".into())))).await;
    let c = reqwest::Client::new();
    let url = |base: &str, path: &str| format!("{base}/v1/preferences/coornhert/{path}");

    // Without the admin listener's caller: 401.
    let r = c.get(url(&open, "g-2001")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let v: serde_json::Value = c
        .get(url(&admin, "g-2001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["role"].as_str(), v["version"].as_i64()),
        (Some("guardian"), Some(0))
    );
    assert!(c.get(url(&admin, "nobody")).send().await.unwrap().status() == 404);

    // An override needs a reason and the version it was made from; the floors hold.
    let body = |choice: serde_json::Value, reason: &str, version: i64| json!({"choice": choice, "reason": reason, "version": version});
    let weekly = json!({"frequency": {"every": "weekly"}});
    let r = c
        .put(url(&admin, "g-2001"))
        .json(&body(weekly.clone(), "", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .put(url(&admin, "g-2001"))
        .json(&body(
            json!({"channels_off": ["email"]}),
            "asked by phone",
            0,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        422,
        "no channel left is refused for mentors too"
    );
    let r = c
        .put(url(&admin, "g-2001"))
        .json(&body(weekly.clone(), "asked by phone", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .put(url(&admin, "g-2001"))
        .json(&body(weekly.clone(), "again", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a stale version");
    let v: serde_json::Value = c
        .get(url(&admin, "g-2001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choice"], weekly);

    // Revoking links: a link made before no longer opens the page.
    let keys = Keyring::load(&f.tmp.path().join("links.key")).unwrap();
    let old = keys.sign(
        "coornhert",
        Role::Guardian,
        "g-2001",
        f.clock.now(),
        Duration::days(30),
    );
    let page = format!("{}p/{old}", f.base);
    assert_eq!(reqwest::get(&page).await.unwrap().status(), 200);
    let r = c
        .post(url(&admin, "g-2001/revoke-links"))
        .json(&json!({"reason": "phone lost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(reqwest::get(&page).await.unwrap().status(), 403);

    // The AVG export: directory entry, choices, notices and the audit entries.
    f.post(absence("abs-1", "s-15", "2026-11-23T09:00:00+01:00"))
        .await;
    let e: serde_json::Value = c
        .get(format!("{admin}/v1/people/coornhert/g-2001/export"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["directory"]["name"], "Anna de Jong");
    assert_eq!(e["preferences"]["choice"], weekly);
    assert_eq!(e["notices"].as_array().unwrap().len(), 1, "{e}");
    let actions: Vec<&str> = e["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["preferences.override", "preferences.revoke_links"]
    );
    assert_eq!(e["audit"][0]["actor"], "admin:mentor");
    assert_eq!(e["audit"][0]["after"]["reason"], "asked by phone");
    f.d.shutdown().await;
}
