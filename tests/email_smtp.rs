//! The SMTP transport of the email channel against a real SMTP server (mailin-embedded)
//! running in this test process on 127.0.0.1: what arrives, and how refusals map onto
//! permanent and transient failures.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{start_counting_server, start_server, Inbox, Received, BUSY, GONE};
use rustig::config::{EmailConfig, EmailTransportConfig};
use rustig::model::{ChannelKind, Contact, Locale, Role};
use rustig::send::email::EmailChannel;
use rustig::send::{Channel, Outgoing, Rendered, SendError};

const FROM: &str = "Coornhert Lyceum <noreply@coornhert.example>";

fn config(url: String, timeout: Duration) -> EmailConfig {
    EmailConfig {
        transport: EmailTransportConfig::Smtp {
            url,
            username: None,
            password_file: None,
            pool_size: 2,
        },
        from: FROM.into(),
        timeout,
    }
}

async fn channel(port: u16) -> EmailChannel {
    EmailChannel::new(&config(
        format!("smtp://127.0.0.1:{port}"),
        Duration::from_secs(10),
    ))
    .await
    .unwrap()
}

fn outgoing(key: &str, addresses: &[&str]) -> Outgoing {
    let mut contacts: Vec<Contact> = addresses
        .iter()
        .map(|a| Contact::Email(a.to_string()))
        .collect();
    contacts.push(Contact::Ntfy("https://ntfy.example/abc".into()));
    Outgoing {
        key: key.to_string(),
        school: "coornhert".into(),
        recipient: "g-2001".into(),
        recipient_name: "Anna de Jong".into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        contacts,
        locale: Locale::Nl,
        content: Rendered {
            subject: format!("Nieuw cijfer ({key})"),
            text: format!("Merel heeft een nieuw cijfer voor wiskunde. [{key}]"),
            html: format!("<p>Merel heeft een nieuw cijfer voor <b>wiskunde</b>. [{key}]</p>"),
            title: String::new(),
            body: String::new(),
        },
        notices: vec![],
    }
}

/// Unfolded headers and body of a raw message.
fn split(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers and body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            headers.last_mut().unwrap().1.push_str(line.trim_start());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// (content type, body) of each part of a multipart message.
fn parts(raw: &str) -> Vec<(String, String)> {
    let (headers, body) = split(raw);
    let ct = header(&headers, "Content-Type").unwrap();
    assert!(ct.starts_with("multipart/alternative"), "{ct}");
    let boundary = ct.split("boundary=").nth(1).unwrap().trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let (h, b) = split(chunk.trim_start_matches("\r\n"));
        out.push((
            header(&h, "Content-Type").unwrap().to_string(),
            b.trim_end().to_string(),
        ));
    }
    out
}

fn received(inbox: &Inbox) -> Vec<Received> {
    inbox.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_one_multipart_message_to_all_addresses() {
    let (port, inbox) = start_server();
    let ch = channel(port).await;
    ch.send(&outgoing(
        "9f86d081884c7d65",
        &["anna@example.nl", "anna.werk@example.com"],
    ))
    .await
    .unwrap();

    let got = received(&inbox);
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m.from, "noreply@coornhert.example");
    assert_eq!(m.to, ["anna@example.nl", "anna.werk@example.com"]);

    let (headers, _) = split(&m.data);
    assert_eq!(
        header(&headers, "Subject"),
        Some("Nieuw cijfer (9f86d081884c7d65)")
    );
    assert_eq!(
        header(&headers, "Message-ID"),
        Some("<9f86d081884c7d65@rustig>")
    );
    assert_eq!(header(&headers, "X-Rustig-Key"), Some("9f86d081884c7d65"));
    assert!(header(&headers, "Date").is_some());
    let to = header(&headers, "To").unwrap();
    assert!(
        to.contains("Anna de Jong") && to.contains("<anna@example.nl>"),
        "{to}"
    );
    assert!(header(&headers, "From")
        .unwrap()
        .contains("noreply@coornhert.example"));

    let parts = parts(&m.data);
    assert_eq!(parts.len(), 2, "{}", m.data);
    assert!(parts[0].0.starts_with("text/plain"), "{:?}", parts[0]);
    assert_eq!(
        parts[0].1,
        "Merel heeft een nieuw cijfer voor wiskunde. [9f86d081884c7d65]"
    );
    assert!(parts[1].0.starts_with("text/html"), "{:?}", parts[1]);
    assert!(parts[1].1.contains("<b>wiskunde</b>"), "{:?}", parts[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_of_a_key_carries_the_same_message_id() {
    let (port, inbox) = start_server();
    let ch = channel(port).await;
    let msg = outgoing("k-resend", &["anna@example.nl"]);
    ch.send(&msg).await.unwrap();
    ch.send(&msg).await.unwrap();
    let got = received(&inbox);
    assert_eq!(got.len(), 2);
    let ids: Vec<String> = got
        .iter()
        .map(|m| header(&split(&m.data).0, "Message-ID").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["<k-resend@rustig>", "<k-resend@rustig>"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_550_is_permanent_and_the_pool_recovers() {
    let (port, inbox) = start_server();
    let ch = channel(port).await;
    let err = ch
        .send(&outgoing("k-gone", &["anna@example.nl", GONE]))
        .await
        .unwrap_err();
    match &err {
        SendError::Permanent(m) => {
            assert!(m.contains("550"), "{m}");
            assert!(!m.contains(GONE), "the address leaked: {m}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    assert!(received(&inbox).is_empty());

    // The next message over the same channel still goes through.
    ch.send(&outgoing("k-after", &["anna@example.nl"]))
        .await
        .unwrap();
    let got = received(&inbox);
    assert_eq!(got.len(), 1);
    assert!(got[0].data.contains("Message-ID: <k-after@rustig>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcpt_451_is_transient() {
    let (port, inbox) = start_server();
    let ch = channel(port).await;
    let err = ch.send(&outgoing("k-busy", &[BUSY])).await.unwrap_err();
    match &err {
        SendError::Transient { message, .. } => assert!(message.contains("451"), "{message}"),
        other => panic!("expected transient, got {other:?}"),
    }
    assert!(received(&inbox).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_transient() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ch = channel(port).await;
    let err = ch
        .send(&outgoing("k-refused", &["anna@example.nl"]))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out_as_transient() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let ch = EmailChannel::new(&config(
        format!("smtp://127.0.0.1:{port}"),
        Duration::from_millis(300),
    ))
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let err = ch
        .send(&outgoing("k-silent", &["anna@example.nl"]))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // And again, on the rebuilt transport.
    let err = ch
        .send(&outgoing("k-silent-2", &["anna@example.nl"]))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failure_is_transient() {
    // smtps:// against a plain-text server: the TLS handshake fails.
    let (port, inbox) = start_server();
    let ch = EmailChannel::new(&config(
        format!("smtps://127.0.0.1:{port}"),
        Duration::from_secs(5),
    ))
    .await
    .unwrap();
    let err = ch
        .send(&outgoing("k-tls", &["anna@example.nl"]))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    assert!(received(&inbox).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_messages_over_the_pool_all_arrive() {
    let (port, inbox, sessions) = start_counting_server();
    let ch = Arc::new(channel(port).await);
    // In a row, reusing one pooled connection (lettre parks a used connection in a spawned
    // task; the short pause lets that happen before the next send asks for one)...
    for i in 0..5 {
        ch.send(&outgoing(&format!("seq-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sessions.load(Ordering::SeqCst), 1, "the pool was not used");
    // ...and concurrently, more than the pool size at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let ch = Arc::clone(&ch);
        tasks.spawn(async move {
            ch.send(&outgoing(&format!("par-{i}"), &["peter@example.com"]))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }

    let got = received(&inbox);
    assert_eq!(got.len(), 13);
    let ids: HashSet<String> = got
        .iter()
        .map(|m| header(&split(&m.data).0, "Message-ID").unwrap().to_string())
        .collect();
    let expected: HashSet<String> = (0..5)
        .map(|i| format!("<seq-{i}@rustig>"))
        .chain((0..8).map(|i| format!("<par-{i}@rustig>")))
        .collect();
    assert_eq!(ids, expected);
    for m in &got {
        assert_eq!(parts(&m.data).len(), 2);
    }
}
