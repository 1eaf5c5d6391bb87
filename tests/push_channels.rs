//! The push and webhook channels against local endpoints playing the services:
//! Web Push decrypted and its VAPID token verified by Python's `http_ece` and `py_vapid`;
//! FCM's OAuth2 assertion verified with the service account's public key (jwt-simple) and
//! real FCM error bodies; ntfy and webhooks (signature recomputed here); timeouts and the
//! per-host limit.

mod endpoint;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use endpoint::{Answer, Endpoint};
use hmac::{Hmac, Mac};
use jwt_simple::algorithms::{RS256KeyPair, RSAPublicKeyLike};
use jwt_simple::common::VerificationOptions;
use rustig::config::{FcmConfig, NtfyConfig, Urgency, WebPushConfig};
use rustig::model::directory::{WebPushKeys, WebPushSubscription};
use rustig::model::{ChannelKind, Contact, Role};
use rustig::policy::NoticeKind;
use rustig::send::fcm::FcmChannel;
use rustig::send::http::HttpSender;
use rustig::send::ntfy::NtfyChannel;
use rustig::send::webhook::WebhookChannel;
use rustig::send::webpush::{generate_vapid_keys, WebPushChannel};
use rustig::send::{Channel, Outgoing, OutgoingNotice, Rendered, SendError};
use serde_json::{json, Value};

fn outgoing(channel: ChannelKind, contacts: Vec<Contact>, records: &[&str]) -> Outgoing {
    Outgoing {
        key: format!("key-{}", records.join("-")),
        school: "coornhert".into(),
        recipient: "g-2001".into(),
        recipient_name: "Anna de Jong".into(),
        role: Role::Guardian,
        channel,
        contacts,
        locale: rustig::model::Locale::Nl,
        content: Rendered {
            subject: "Nieuw cijfer".into(),
            text: "Merel heeft een nieuw cijfer voor wiskunde.".into(),
            html: "<p>Merel heeft een nieuw cijfer.</p>".into(),
            title: "Nieuw cijfer voor Zoë".into(),
            body: "Merel heeft een nieuw cijfer voor wiskunde.".into(),
        },
        notices: records
            .iter()
            .enumerate()
            .map(|(i, r)| OutgoingNotice {
                id: i as i64 + 1,
                kind: NoticeKind::Grade,
                event_id: format!("evt-{r}"),
                record: r.to_string(),
                student: "s-1001".into(),
            })
            .collect(),
        settings_url: None,
        unsubscribe_url: None,
    }
}

fn http(timeout_ms: u64, per_host: usize) -> Arc<HttpSender> {
    Arc::new(HttpSender::new(Duration::from_millis(timeout_ms), per_host).unwrap())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---- Web Push ----------------------------------------------------------------------------

/// A Python with `http_ece` and `py_vapid`: `RUSTIG_TEST_PYTHON`, or a venv in `target/`
/// (made here when missing; `.ci/run` makes it first).
fn python() -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        if let Ok(p) = std::env::var("RUSTIG_TEST_PYTHON") {
            return Some(p.into());
        }
        let ok = |py: &Path| {
            Command::new(py)
                .args(["-c", "import http_ece, py_vapid"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rustig-pyenv");
        let py = venv.join("bin/python");
        if py.exists() && ok(&py) {
            return Some(py);
        }
        eprintln!("creating {} (http_ece, py_vapid)", venv.display());
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "http_ece>=1.1,<2", "py_vapid>=1.9,<2"])
                .status()
                .is_ok_and(|s| s.success());
        (made && ok(&py)).then_some(py)
    })
    .clone()
}

fn require_python() -> Option<PathBuf> {
    match python() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("Python with http_ece and py_vapid is needed (see .ci/run)")
        }
        None => {
            eprintln!("skipped: no Python with http_ece and py_vapid");
            None
        }
    }
}

fn py(python: &Path, arg: &str, stdin: Option<&Value>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/webpush_check.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(v) = stdin {
            input.write_all(v.to_string().as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "webpush_check.py {arg} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn webpush_channel(dir: &Path, ttl: Duration, http: Arc<HttpSender>) -> (WebPushChannel, String) {
    let (private, public) = generate_vapid_keys();
    let file = dir.join("vapid.key");
    std::fs::write(&file, format!("# test key\n{private}\n")).unwrap();
    let cfg = WebPushConfig {
        vapid_private_key_file: file,
        subject: "mailto:ict@coornhert.example".into(),
        ttl,
        urgency: Urgency::High,
    };
    (WebPushChannel::new(&cfg, http).unwrap(), public)
}

/// Subscription keys made here, for tests that need no decryption.
fn local_subscription(endpoint: String) -> Contact {
    use web_push_native::p256::elliptic_curve::rand_core::OsRng;
    use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;
    let secret = web_push_native::p256::SecretKey::random(&mut OsRng);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Contact::Webpush(Box::new(WebPushSubscription {
        endpoint,
        keys: WebPushKeys {
            p256dh: b64.encode(secret.public_key().to_encoded_point(false).as_bytes()),
            auth: b64.encode([7u8; 16]),
        },
    }))
}

#[tokio::test]
async fn webpush_is_decrypted_and_its_vapid_token_verified_by_python() {
    let Some(python) = require_python() else {
        return;
    };
    let ua = py(&python, "keys", None);
    let ep = Endpoint::start().await;
    ep.respond(|_| Answer::new(201, ""));
    let tmp = tempfile::tempdir().unwrap();
    let (channel, vapid_public) =
        webpush_channel(tmp.path(), Duration::from_secs(7200), http(5000, 4));
    let sub = Contact::Webpush(Box::new(WebPushSubscription {
        endpoint: ep.url("/push/v2/abc123"),
        keys: WebPushKeys {
            p256dh: ua["p256dh"].as_str().unwrap().into(),
            auth: ua["auth"].as_str().unwrap().into(),
        },
    }));
    let msg = outgoing(ChannelKind::Webpush, vec![sub], &["r-1"]);
    let d = channel.deliver(&msg).await;
    assert!(d.result.is_ok(), "{:?}", d.result);
    assert!(d.gone.is_empty());

    let seen = ep.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/push/v2/abc123")
    );
    assert_eq!(req.header("ttl"), Some("7200"));
    assert_eq!(req.header("urgency"), Some("high"));
    assert_eq!(req.header("content-encoding"), Some("aes128gcm"));
    let topic = req.header("topic").unwrap();
    assert_eq!(topic, msg.topic());
    assert!(
        topic.len() <= 32
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "RFC 8030 topic: {topic}"
    );

    let checked = py(
        &python,
        "verify",
        Some(&json!({
            "private_key": ua["private_key"],
            "auth": ua["auth"],
            "body": base64::engine::general_purpose::STANDARD.encode(&req.body),
            "authorization": req.header("authorization").unwrap(),
        })),
    );
    let payload: Value = serde_json::from_str(checked["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["title"], "Nieuw cijfer voor Zoë");
    assert_eq!(payload["body"], msg.content.body);
    assert_eq!(payload["tag"], topic);
    assert_eq!(payload["key"], msg.key);
    assert_eq!(checked["k"], vapid_public);
    let claims = &checked["claims"];
    assert_eq!(claims["aud"], ep.origin(), "the origin, port included");
    assert_eq!(claims["sub"], "mailto:ict@coornhert.example");
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now_secs() && exp <= now_secs() + 24 * 3600, "{exp}");

    // A newer message about the same record replaces this one at the push service.
    let newer = outgoing(ChannelKind::Webpush, vec![], &["r-1"]);
    assert_eq!(newer.topic(), topic);
    assert_ne!(
        outgoing(ChannelKind::Webpush, vec![], &["r-2"]).topic(),
        topic
    );
}

#[tokio::test]
async fn webpush_answers_are_gone_transient_or_permanent() {
    let ep = Endpoint::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (channel, _) = webpush_channel(tmp.path(), Duration::from_secs(60), http(5000, 4));
    let one = |path: &str| {
        outgoing(
            ChannelKind::Webpush,
            vec![local_subscription(ep.url(path))],
            &["r-1"],
        )
    };

    for status in [404, 410] {
        ep.script([Answer::new(status, "")]);
        let msg = one("/sub/gone");
        let d = channel.deliver(&msg).await;
        assert!(matches!(d.result, Err(SendError::Permanent(_))), "{status}");
        assert_eq!(d.gone.len(), 1, "{status}");
        assert_eq!(d.gone[0].contact, msg.contacts[0]);
        assert!(
            !d.gone[0].reason.contains("/sub/gone"),
            "no endpoint in texts"
        );
    }
    ep.script([Answer::new(429, "slow down").header("Retry-After", "120")]);
    let d = channel.deliver(&one("/sub/a")).await;
    assert!(
        matches!(&d.result, Err(SendError::Transient { retry_after: Some(r), .. }) if *r == Duration::from_secs(120)),
        "{:?}",
        d.result
    );
    ep.script([Answer::new(503, "")]);
    assert!(matches!(
        channel.deliver(&one("/sub/a")).await.result,
        Err(SendError::Transient { .. })
    ));
    ep.script([Answer::new(400, "bad")]);
    let d = channel.deliver(&one("/sub/a")).await;
    assert!(matches!(d.result, Err(SendError::Permanent(_))) && d.gone.is_empty());

    // One gone subscription does not stop the others.
    ep.script([Answer::new(410, ""), Answer::new(201, "")]);
    let msg = outgoing(
        ChannelKind::Webpush,
        vec![
            local_subscription(ep.url("/old")),
            local_subscription(ep.url("/new")),
        ],
        &["r-1"],
    );
    let d = channel.deliver(&msg).await;
    assert!(d.result.is_ok());
    assert_eq!(d.gone.len(), 1);
    assert_eq!(d.gone[0].contact, msg.contacts[0]);
}

// ---- FCM ---------------------------------------------------------------------------------

fn fcm_error(code: u16, status: &str, message: &str, error_code: &str) -> String {
    json!({"error": {"code": code, "message": message, "status": status, "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
    ]}})
    .to_string()
}

struct Fcm {
    ep: Endpoint,
    account_file: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A local OAuth2 token endpoint and FCM, verifying assertions with `public`.
async fn fcm_service(signing: &RS256KeyPair, verifying: &RS256KeyPair, expires_in: u64) -> Fcm {
    let ep = Endpoint::start().await;
    let token_uri = ep.url("/token");
    let public = verifying.public_key();
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uri = token_uri.clone();
    ep.respond(move |r| {
        if r.path == "/token" {
            let form = String::from_utf8(r.body.clone()).unwrap();
            let mut assertion = "";
            let mut grant = "";
            for kv in form.split('&') {
                let (k, v) = kv.split_once('=').unwrap();
                match k {
                    "assertion" => assertion = v,
                    "grant_type" => grant = v,
                    _ => {}
                }
            }
            assert_eq!(grant, "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
            let options = VerificationOptions {
                allowed_audiences: Some(HashSet::from([uri.clone()])),
                allowed_issuers: Some(HashSet::from([
                    "rustig@rustig-test.iam.gserviceaccount.com".to_string(),
                ])),
                ..Default::default()
            };
            return match public.verify_token::<Value>(assertion, Some(options)) {
                Ok(claims) => {
                    assert_eq!(
                        claims.custom["scope"],
                        "https://www.googleapis.com/auth/firebase.messaging"
                    );
                    let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    Answer::new(
                        200,
                        &json!({"access_token": format!("ya29.tok-{n}"), "expires_in": expires_in, "token_type": "Bearer"})
                            .to_string(),
                    )
                }
                Err(_) => Answer::new(
                    400,
                    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                ),
            };
        }
        assert_eq!(r.path, "/v1/projects/rustig-test/messages:send");
        assert!(r.header("authorization").unwrap().starts_with("Bearer ya29.tok-"));
        let m = r.json();
        match m["message"]["token"].as_str().unwrap() {
            "dev-ok" => Answer::new(200, r#"{"name":"projects/rustig-test/messages/0:1"}"#),
            "dev-gone" => Answer::new(
                404,
                &fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
            ),
            "dev-bad" => Answer::new(
                400,
                &fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT",
                ),
            ),
            "dev-busy" => Answer::new(
                503,
                &fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
            )
            .header("Retry-After", "30"),
            other => panic!("unexpected token {other}"),
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let account_file = tmp.path().join("service-account.json");
    std::fs::write(
        &account_file,
        json!({
            "type": "service_account",
            "project_id": "rustig-test",
            "private_key_id": "kid-1",
            "private_key": signing.to_pem().unwrap(),
            "client_email": "rustig@rustig-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string(),
    )
    .unwrap();
    Fcm {
        ep,
        account_file,
        _tmp: tmp,
    }
}

fn fcm_channel(f: &Fcm) -> FcmChannel {
    let cfg = FcmConfig {
        service_account_file: f.account_file.clone(),
        base_url: f.ep.origin(),
        ttl: Duration::from_secs(3600),
    };
    FcmChannel::new(&cfg, http(5000, 4)).unwrap()
}

fn token_requests(f: &Fcm) -> usize {
    f.ep.seen().iter().filter(|r| r.path == "/token").count()
}

#[tokio::test]
async fn fcm_signs_its_token_request_caches_the_token_and_reads_fcm_errors() {
    let key = RS256KeyPair::generate(2048).unwrap();
    let f = fcm_service(&key, &key, 3600).await;
    let channel = fcm_channel(&f);
    let msg = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-ok".into())],
        &["r-1"],
    );
    let d = channel.deliver(&msg).await;
    assert!(d.result.is_ok(), "{:?}", d.result);
    let sent =
        f.ep.seen()
            .into_iter()
            .find(|r| r.path.ends_with(":send"))
            .unwrap();
    let m = sent.json();
    assert_eq!(
        m["message"]["notification"]["title"],
        "Nieuw cijfer voor Zoë"
    );
    assert_eq!(m["message"]["notification"]["body"], msg.content.body);
    assert_eq!(m["message"]["android"]["collapse_key"], msg.topic());
    assert_eq!(m["message"]["android"]["notification"]["tag"], msg.topic());
    assert_eq!(m["message"]["android"]["ttl"], "3600s");
    assert_eq!(
        m["message"]["apns"]["headers"]["apns-collapse-id"],
        msg.topic()
    );

    // The token is cached: more sends, no new token request.
    channel.deliver(&msg).await.result.unwrap();
    assert_eq!(token_requests(&f), 1);

    let gone = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-gone".into())],
        &["r-1"],
    );
    let d = channel.deliver(&gone).await;
    assert!(matches!(&d.result, Err(SendError::Permanent(m)) if m.contains("UNREGISTERED")));
    assert_eq!(d.gone.len(), 1);
    let bad = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-bad".into())],
        &["r-1"],
    );
    let d = channel.deliver(&bad).await;
    assert!(matches!(d.result, Err(SendError::Permanent(_))));
    assert_eq!(d.gone.len(), 1, "an invalid registration token is gone");
    let busy = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-busy".into())],
        &["r-1"],
    );
    let d = channel.deliver(&busy).await;
    assert!(
        matches!(&d.result, Err(SendError::Transient { retry_after: Some(r), .. }) if *r == Duration::from_secs(30)),
        "{:?}",
        d.result
    );
    assert!(d.gone.is_empty());
    assert_eq!(token_requests(&f), 1);
}

#[tokio::test]
async fn fcm_refreshes_its_token_before_expiry_and_a_wrong_key_is_refused() {
    let key = RS256KeyPair::generate(2048).unwrap();
    // 301 s: refreshed once less than five minutes are left, i.e. after one second.
    let f = fcm_service(&key, &key, 301).await;
    let channel = fcm_channel(&f);
    let msg = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-ok".into())],
        &["r-1"],
    );
    channel.deliver(&msg).await.result.unwrap();
    channel.deliver(&msg).await.result.unwrap();
    assert_eq!(token_requests(&f), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    channel.deliver(&msg).await.result.unwrap();
    assert_eq!(token_requests(&f), 2);
    let auths: Vec<String> =
        f.ep.seen()
            .iter()
            .filter(|r| r.path.ends_with(":send"))
            .map(|r| r.header("authorization").unwrap().to_string())
            .collect();
    assert_eq!(auths.last().unwrap(), "Bearer ya29.tok-2");

    // Signed with a key the token endpoint does not know: refused for good.
    let other = RS256KeyPair::generate(2048).unwrap();
    let f = fcm_service(&other, &key, 3600).await;
    let d = fcm_channel(&f).deliver(&msg).await;
    assert!(
        matches!(&d.result, Err(SendError::Permanent(m)) if m.contains("invalid_grant")),
        "{:?}",
        d.result
    );
}

/// Google issues PKCS#8 keys; older tooling writes PKCS#1. Both sign; an EC key is refused at
/// start with a message that says why.
#[tokio::test]
async fn fcm_signs_with_a_pkcs1_key_too_and_refuses_an_ec_key() {
    let pkcs1 = include_str!("fixtures/fcm-test-key.pkcs1.pem");
    let key = RS256KeyPair::from_pem(pkcs1).unwrap();
    let f = fcm_service(&key, &key, 3600).await;
    let mut account: Value =
        serde_json::from_str(&std::fs::read_to_string(&f.account_file).unwrap()).unwrap();
    account["private_key"] = pkcs1.into();
    std::fs::write(&f.account_file, account.to_string()).unwrap();
    let msg = outgoing(
        ChannelKind::Fcm,
        vec![Contact::Fcm("dev-ok".into())],
        &["r-1"],
    );
    fcm_channel(&f).deliver(&msg).await.result.unwrap();
    assert_eq!(token_requests(&f), 1);

    account["private_key"] = include_str!("fixtures/ec-test-key.pkcs8.pem").into();
    std::fs::write(&f.account_file, account.to_string()).unwrap();
    let cfg = FcmConfig {
        service_account_file: f.account_file.clone(),
        base_url: f.ep.origin(),
        ttl: Duration::from_secs(3600),
    };
    let err = FcmChannel::new(&cfg, http(1000, 1))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("private_key is not an RSA key"), "{err}");
}

// ---- ntfy --------------------------------------------------------------------------------

#[tokio::test]
async fn ntfy_posts_title_priority_tags_and_token() {
    let ep = Endpoint::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("ntfy.token");
    std::fs::write(&token_file, "tk_rustig\n").unwrap();
    let cfg = NtfyConfig {
        token_file: Some(token_file),
        priority: 4,
        tags: vec!["school".into()],
    };
    let channel = NtfyChannel::new(&cfg, http(5000, 4)).unwrap();
    let msg = outgoing(
        ChannelKind::Ntfy,
        vec![Contact::Ntfy(ep.url("/rustig-anna"))],
        &["r-1"],
    );
    channel.deliver(&msg).await.result.unwrap();
    let r = &ep.seen()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/rustig-anna")
    );
    let title = r.header("title").unwrap();
    let encoded = title
        .strip_prefix("=?UTF-8?B?")
        .and_then(|t| t.strip_suffix("?="))
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "Nieuw cijfer voor Zoë");
    assert_eq!(r.header("priority"), Some("4"));
    assert_eq!(r.header("tags"), Some("grade,school"));
    assert_eq!(r.header("authorization"), Some("Bearer tk_rustig"));
    assert_eq!(r.body, msg.content.body.as_bytes());

    ep.script([Answer::new(429, "").header("Retry-After", "7")]);
    assert!(matches!(
        channel.deliver(&msg).await.result,
        Err(SendError::Transient { retry_after: Some(r), .. }) if r == Duration::from_secs(7)
    ));
    ep.script([Answer::new(403, r#"{"code":40301,"error":"forbidden"}"#)]);
    let d = channel.deliver(&msg).await;
    assert!(matches!(d.result, Err(SendError::Permanent(_))) && d.gone.is_empty());
    ep.script([Answer::new(410, "")]);
    assert_eq!(channel.deliver(&msg).await.gone.len(), 1);
}

// ---- Webhooks ----------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_are_signed_and_carry_the_notices() {
    let ep = Endpoint::start().await;
    let secret = b"whsec-coornhert".to_vec();
    let channel = WebhookChannel::with_secret(secret.clone(), http(5000, 4));
    let msg = outgoing(
        ChannelKind::Webhook,
        vec![Contact::Webhook(ep.url("/hooks/rustig"))],
        &["r-1", "r-2"],
    );
    channel.deliver(&msg).await.result.unwrap();
    let r = &ep.seen()[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("idempotency-key"), Some(msg.key.as_str()));

    // Verify as a receiver would: HMAC-SHA256 over "<t>.<raw body>".
    let sig = r.header("x-rustig-signature").unwrap();
    let (t, v1) = sig.split_once(',').unwrap();
    let t: u64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    let v1 = hex::decode(v1.strip_prefix("v1=").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    mac.verify_slice(&v1).expect("signature verifies");
    assert!(t.abs_diff(now_secs()) < 60);
    let mut wrong = Hmac::<sha2::Sha256>::new_from_slice(b"other").unwrap();
    wrong.update(format!("{t}.").as_bytes());
    wrong.update(&r.body);
    assert!(wrong.verify_slice(&v1).is_err());

    let doc = r.json();
    assert_eq!(doc["key"], msg.key);
    assert_eq!(
        doc["recipient"],
        json!({"id": "g-2001", "role": "guardian"})
    );
    assert_eq!(doc["students"], json!(["s-1001"]));
    assert_eq!(doc["message"]["subject"], "Nieuw cijfer");
    assert_eq!(doc["message"]["body"], msg.content.body);
    assert_eq!(
        doc["notices"],
        json!([
            {"id": 1, "kind": "grade", "event_id": "evt-r-1", "record": "r-1", "student": "s-1001"},
            {"id": 2, "kind": "grade", "event_id": "evt-r-2", "record": "r-2", "student": "s-1001"},
        ])
    );

    ep.script([Answer::new(500, "oops")]);
    assert!(matches!(
        channel.deliver(&msg).await.result,
        Err(SendError::Transient { .. })
    ));
    ep.script([Answer::new(400, "nope")]);
    assert!(matches!(
        channel.deliver(&msg).await.result,
        Err(SendError::Permanent(m)) if m.contains("400")
    ));
    ep.script([Answer::new(410, "")]);
    assert_eq!(channel.deliver(&msg).await.gone.len(), 1);
}

// ---- Timeouts and per-host limits --------------------------------------------------------

#[tokio::test]
async fn a_slow_service_times_out_transiently_and_gets_at_most_per_host_requests() {
    let ep = Endpoint::start().await;
    let channel = WebhookChannel::with_secret(b"s".to_vec(), http(300, 2));
    ep.script([Answer::new(200, "").delay(Duration::from_secs(2))]);
    let msg = outgoing(
        ChannelKind::Webhook,
        vec![Contact::Webhook(ep.url("/slow"))],
        &["r-1"],
    );
    let started = std::time::Instant::now();
    let d = channel.deliver(&msg).await;
    assert!(
        matches!(d.result, Err(SendError::Transient { .. })),
        "{:?}",
        d.result
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    let ep = Endpoint::start().await;
    ep.respond(|_| Answer::new(200, "").delay(Duration::from_millis(150)));
    let channel = Arc::new(WebhookChannel::with_secret(b"s".to_vec(), http(5000, 2)));
    let sends = (0..6).map(|i| {
        let channel = channel.clone();
        let msg = outgoing(
            ChannelKind::Webhook,
            vec![Contact::Webhook(ep.url(&format!("/hook/{i}")))],
            &["r-1"],
        );
        async move { channel.deliver(&msg).await.result }
    });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
    assert_eq!(ep.seen().len(), 6);
    assert_eq!(ep.max_in_flight(), 2, "at most `per_host` requests at once");
}
