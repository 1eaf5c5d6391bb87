//! Delivery semantics through the real scheduler, store (SQLite in memory) and the HTTP
//! channels against local endpoints, on a manual clock: retries with backoff and
//! `Retry-After`, permanent failures, dead letters and `resend`, `max_age`, gone contacts
//! (skipped in planning until the directory changes them) and the email fallback.

mod common;
mod endpoint;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use common::release::{at, Release};
use endpoint::{Answer, Endpoint};
use rustig::clock::Clock;
use rustig::config::Config;
use rustig::model::{ChannelKind, Directory};
use rustig::policy::Rule;
use rustig::send::{Channel, Channels, Outgoing, SendError};
use rustig::store::StoredNotice;

/// Records email messages (the fallback's destination).
#[derive(Default)]
struct Mailbox {
    seen: Mutex<Vec<Outgoing>>,
}

#[async_trait]
impl Channel for Mailbox {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        self.seen.lock().unwrap().push(msg.clone());
        Ok(())
    }
}

const CONFIG: &str = r#"timezone = "Europe/Amsterdam"
[weekend]
enabled = false
[grades]
classroom_first = "off"
guardian_delay = "1h"
[digest]
guardians = "immediate"
[schools.coornhert]
name = "Coornhert Lyceum"
"#;

/// Merel (webhook) and her guardian Anna (email and ntfy), both on the local endpoint.
fn directory(ep: &Endpoint, anna_ntfy: &str) -> Directory {
    let json = format!(
        r#"{{"students":[{{"id":"s-1","school":"coornhert","name":"Merel de Jong","birth_date":"2011-03-14",
            "class":"3c","contacts":[{{"webhook":"{}"}}],
            "guardians":[{{"id":"g-1","name":"Anna de Jong","contacts":[{{"email":"anna@example.nl"}},{{"ntfy":"{}"}}]}}]}}]}}"#,
        ep.url("/hook/merel"),
        ep.url(anna_ntfy)
    );
    Directory::parse(json.as_bytes()).unwrap()
}

struct Rig {
    release: Release,
    mail: Arc<Mailbox>,
    ep: Endpoint,
    _tmp: tempfile::TempDir,
}

impl std::ops::Deref for Rig {
    type Target = Release;
    fn deref(&self) -> &Release {
        &self.release
    }
}

async fn rig(delivery: &str, start: &str) -> Rig {
    let ep = Endpoint::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("webhook.secret");
    std::fs::write(&secret, "whsec").unwrap();
    let text = format!(
        "{CONFIG}[delivery]\n{delivery}\n[webhook]\nsecret_file = {:?}\n",
        secret.display().to_string()
    );
    let config = Config::parse(Path::new("t.toml"), &text).unwrap();
    let mail = Arc::new(Mailbox::default());
    let channels = rustig::send::setup::add_configured(
        Channels::default().with(ChannelKind::Email, mail.clone()),
        &config,
    )
    .unwrap();
    let directory = directory(&ep, "/anna");
    let release = Release::new(config, directory, channels, start, |d| d).await;
    Rig {
        release,
        mail,
        ep,
        _tmp: tmp,
    }
}

fn grade(id: &str, record: &str, occurred: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"grade.entered","school":"coornhert","occurred_at":"{occurred}","record":"{record}","student":"s-1","grade":{{"assessment":"a-{record}","subject":"wiskunde","class":"3c","description":"Toets","value":"7,5","kind":"test"}}}}"#
    )
}

impl Rig {
    async fn notice(&self, event: &str, recipient: &str, channel: ChannelKind) -> StoredNotice {
        self.store
            .notices_of_event(event)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.recipient == recipient && n.channel == channel)
            .unwrap_or_else(|| panic!("no {recipient} {channel:?} notice"))
    }

    fn hook_calls(&self) -> Vec<endpoint::Recorded> {
        self.ep
            .seen()
            .into_iter()
            .filter(|r| r.path == "/hook/merel")
            .collect()
    }
}

#[tokio::test]
async fn transient_failures_back_off_honour_retry_after_then_a_permanent_one_is_dead_and_resendable(
) {
    let r = rig(
        "max_attempts = 8\nretry_base = \"30s\"\nretry_max = \"1h\"",
        "2026-11-24T10:00:00+01:00",
    )
    .await;
    r.ep.script([
        Answer::new(503, "busy"),
        Answer::new(429, "slow down").header("Retry-After", "600"),
        Answer::new(400, "unknown app"),
    ]);
    r.ingest(&grade("e1", "r1", "2026-11-24T10:00:00+01:00"))
        .await;
    let t0 = r.clock.now();
    r.tick(t0).await;
    let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
    assert_eq!((n.state.as_str(), n.attempts), ("pending", 1));
    assert!(n.last_error.as_deref().unwrap().contains("503"), "{n:?}");
    let wait = n.due_at - t0;
    assert!(
        wait >= Duration::seconds(30) && wait <= Duration::seconds(36),
        "{wait}"
    );

    r.tick(n.due_at).await;
    let t1 = r.clock.now();
    let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
    assert_eq!(n.attempts, 2);
    assert!(
        n.due_at - t1 >= Duration::seconds(600),
        "Retry-After: {}",
        n.due_at - t1
    );
    assert_eq!(r.tick(n.due_at - Duration::seconds(1)).await, 0);
    assert_eq!(r.hook_calls().len(), 2, "not before Retry-After");

    r.tick(n.due_at).await;
    let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
    assert_eq!(n.state, "dead");
    let error = n.last_error.unwrap();
    assert!(
        error.contains("400") && error.contains("unknown app"),
        "{error}"
    );
    assert!(!error.contains("127.0.0.1"), "no URLs in errors: {error}");
    // Dead is final until an operator resends.
    r.tick(r.clock.now() + Duration::hours(2)).await;
    assert_eq!(r.hook_calls().len(), 3);

    let now = r.clock.now();
    assert_eq!(r.store.resend_dead(Some("e-other"), now).await.unwrap(), 0);
    assert_eq!(r.store.resend_dead(Some("e1"), now).await.unwrap(), 1);
    let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
    assert_eq!(
        (n.state.as_str(), n.attempts, n.due_at),
        ("pending", 0, now)
    );
    assert_eq!(n.reasons.last().unwrap().rule, Rule::Resend);
    r.tick(now).await;
    assert_eq!(
        r.notice("e1", "s-1", ChannelKind::Webhook).await.state,
        "sent"
    );
    // Every attempt carried the same idempotency key.
    let keys: Vec<String> = r
        .hook_calls()
        .iter()
        .map(|c| c.header("idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|k| *k == keys[0]));
}

#[tokio::test]
async fn a_message_older_than_max_age_is_dead() {
    let r = rig(
        "max_attempts = 100\nretry_base = \"1m\"\nretry_max = \"4m\"\nmax_age = \"10m\"",
        "2026-11-24T10:00:00+01:00",
    )
    .await;
    r.ep.respond(|_| Answer::new(503, ""));
    r.ingest(&grade("e1", "r1", "2026-11-24T10:00:00+01:00"))
        .await;
    let first_due = r.clock.now();
    let mut t = first_due;
    for _ in 0..20 {
        r.tick(t).await;
        let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
        if n.state == "dead" {
            break;
        }
        t = n.due_at;
    }
    let n = r.notice("e1", "s-1", ChannelKind::Webhook).await;
    assert_eq!(n.state, "dead");
    assert!(
        n.last_error.as_deref().unwrap().contains("max_age"),
        "{n:?}"
    );
    assert!(r.clock.now() - first_due <= Duration::minutes(10));
    assert!(n.attempts >= 3, "retried before giving up: {}", n.attempts);

    // A message that waited longer than max_age (the daemon was down) is not sent at all.
    r.ingest(&grade("e2", "r2", "2026-11-24T10:30:00+01:00"))
        .await;
    let calls = r.hook_calls().len();
    r.tick(at("2026-11-24T11:00:00+01:00")).await;
    let n = r.notice("e2", "s-1", ChannelKind::Webhook).await;
    assert_eq!((n.state.as_str(), n.attempts), ("dead", 1));
    assert_eq!(r.hook_calls().len(), calls);
}

#[tokio::test]
async fn gone_push_contacts_fall_back_to_email_and_are_skipped_until_the_directory_changes() {
    let r = rig("fallback = \"email\"", "2026-11-24T10:00:00+01:00").await;
    r.ep.respond(|rec| {
        if rec.path == "/anna" {
            Answer::new(410, "")
        } else {
            Answer::new(200, "{}")
        }
    });
    r.ingest(&grade("e1", "r1", "2026-11-24T10:00:00+01:00"))
        .await;
    // Push first: Anna's email waits as the fallback.
    let planned: Vec<ChannelKind> = r
        .store
        .notices_of_event("e1")
        .await
        .unwrap()
        .iter()
        .filter(|n| n.recipient == "g-1")
        .map(|n| n.channel)
        .collect();
    assert_eq!(planned, [ChannelKind::Ntfy]);

    r.tick(at("2026-11-24T11:00:00+01:00")).await;
    let push = r.notice("e1", "g-1", ChannelKind::Ntfy).await;
    assert_eq!(push.state, "dead");
    assert!(push.last_error.unwrap().contains("sent by email instead"));
    let email = r.notice("e1", "g-1", ChannelKind::Email).await;
    assert_eq!(email.state, "sent");
    assert_eq!(email.reasons.last().unwrap().rule, Rule::Fallback);
    let mails = r.mail.seen.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "g-1");
    assert!(mails[0]
        .contacts
        .iter()
        .all(|c| c.channel() == ChannelKind::Email));

    // The contact is marked gone, counted, and left out of planning.
    let gone = r.store.gone_contacts().await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (gone[0].recipient.as_str(), gone[0].channel),
        ("g-1", ChannelKind::Ntfy)
    );
    assert!(!gone[0].contact_id.contains("anna"), "a hash, not the URL");
    assert_eq!(r.shared.gone().len(), 1);
    r.ingest(&grade("e2", "r2", "2026-11-24T11:30:00+01:00"))
        .await;
    let planned: Vec<ChannelKind> = r
        .store
        .notices_of_event("e2")
        .await
        .unwrap()
        .iter()
        .filter(|n| n.recipient == "g-1")
        .map(|n| n.channel)
        .collect();
    assert_eq!(planned, [ChannelKind::Email]);
    let anna_calls = r.ep.seen().iter().filter(|c| c.path == "/anna").count();
    r.tick(at("2026-11-24T12:30:00+01:00")).await;
    assert_eq!(r.mail.seen.lock().unwrap().len(), 2);
    assert_eq!(
        r.ep.seen().iter().filter(|c| c.path == "/anna").count(),
        anna_calls,
        "a gone contact is not tried again"
    );

    // A directory that still lists the contact keeps the mark; a changed one clears it.
    let same = directory(&r.ep, "/anna");
    rustig::shared::load_gone(&*r.store, &same).await.unwrap();
    assert_eq!(r.store.gone_contacts().await.unwrap().len(), 1);
    let changed = directory(&r.ep, "/anna-new-phone");
    let gone = rustig::shared::load_gone(&*r.store, &changed)
        .await
        .unwrap();
    assert!(gone.is_empty());
    r.shared.set_directory(changed);
    r.shared.set_gone(gone);
    r.ingest(&grade("e3", "r3", "2026-11-24T13:00:00+01:00"))
        .await;
    r.tick(at("2026-11-24T14:00:00+01:00")).await;
    assert_eq!(r.notice("e3", "g-1", ChannelKind::Ntfy).await.state, "sent");
    assert_eq!(r.mail.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn without_fallback_a_permanent_push_failure_is_dead_and_email_goes_as_planned() {
    let r = rig("", "2026-11-24T10:00:00+01:00").await;
    r.ep.respond(|rec| {
        if rec.path == "/anna" {
            Answer::new(403, "forbidden")
        } else {
            Answer::new(200, "{}")
        }
    });
    r.ingest(&grade("e1", "r1", "2026-11-24T10:00:00+01:00"))
        .await;
    r.tick(at("2026-11-24T11:00:00+01:00")).await;
    let push = r.notice("e1", "g-1", ChannelKind::Ntfy).await;
    assert_eq!(push.state, "dead");
    assert!(push.last_error.unwrap().contains("403"));
    // Every channel is planned without a fallback: the email went on its own.
    assert_eq!(
        r.notice("e1", "g-1", ChannelKind::Email).await.state,
        "sent"
    );
    assert_eq!(r.mail.seen.lock().unwrap().len(), 1);
    assert!(
        r.store.gone_contacts().await.unwrap().is_empty(),
        "403 is not gone"
    );
}
