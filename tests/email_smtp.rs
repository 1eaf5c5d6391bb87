//! The SMTP transport of the email channel against a real SMTP server (mailin-embedded)
//! running in this test process on 127.0.0.1: what arrives, and how refusals map onto
//! permanent and transient failures.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{start_counting_server, start_server, Inbox, Received, BUSY, GONE};
use rustig::config::{EmailConfig, EmailTransportConfig, SmtpConfig};
use rustig::model::{ChannelKind, Contact, Locale, Role};
use rustig::send::email::EmailChannel;
use rustig::send::{Channel, Outgoing, Rendered, SendError};

const FROM: &str = "Coornhert Lyceum <noreply@coornhert.example>";

fn config(url: String, timeout: Duration) -> EmailConfig {
    EmailConfig {
        transport: EmailTransportConfig::Smtp(SmtpConfig {
            pool_size: 2,
            ..SmtpConfig::new(url)
        }),
        from: FROM.into(),
        timeout,
        dkim: None,
    }
}

async fn channel(port: u16) -> EmailChannel {
    channel_within(port, Duration::from_secs(10)).await
}

/// A channel to `port` (plain SMTP) that gives up on a send after `timeout`.
async fn channel_within(port: u16, timeout: Duration) -> EmailChannel {
    EmailChannel::new(&config(format!("smtp://127.0.0.1:{port}"), timeout))
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
        settings_url: None,
        unsubscribe_url: None,
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
        Some("<9f86d081884c7d65@coornhert.example>")
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

/// A line of the text that begins with a dot, or is one, arrives as written: the server takes
/// a lone dot for the end of the message and one dot off any other line that begins with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_that_begin_with_a_dot_arrive_as_written() {
    let (port, inbox) = start_server();
    let ch = channel(port).await;
    let mut msg = outgoing("5d41402abc4b2a76", &["anna@example.nl"]);
    let text = "Cijfers:\n.\n..\n.5 voor wiskunde\nEinde.";
    msg.content.text = text.into();
    ch.send(&msg).await.unwrap();
    ch.send(&outgoing("7d793037a0760186", &["anna@example.nl"]))
        .await
        .unwrap();

    let got = received(&inbox);
    assert_eq!(got.len(), 2, "{got:?}");
    let parts = parts(&got[0].data);
    assert!(parts[0].0.starts_with("text/plain"), "{:?}", parts[0]);
    assert_eq!(parts[0].1, text.replace('\n', "\r\n"));
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
    assert_eq!(
        ids,
        [
            "<k-resend@coornhert.example>",
            "<k-resend@coornhert.example>"
        ]
    );
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
    assert!(got[0]
        .data
        .contains("Message-ID: <k-after@coornhert.example>"));
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
    let ch = channel_within(port, Duration::from_millis(300)).await;
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
    // In a row, reusing one pooled connection...
    for i in 0..5 {
        ch.send(&outgoing(&format!("seq-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
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
        .map(|i| format!("<seq-{i}@coornhert.example>"))
        .chain((0..8).map(|i| format!("<par-{i}@coornhert.example>")))
        .collect();
    assert_eq!(ids, expected);
    for m in &got {
        assert_eq!(parts(&m.data).len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_messages_in_a_row_share_one_connection() {
    // Before TCP_NODELAY each of these waited ~40 ms for a delayed ACK (BENCHMARKS.md); the
    // test does not time them, it checks that they all go over one connection.
    let (port, inbox, sessions) = start_counting_server();
    let ch = channel(port).await;
    for i in 0..50 {
        ch.send(&outgoing(&format!("row-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
    }
    assert_eq!(received(&inbox).len(), 50);
    assert_eq!(sessions.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_but_not_offered_is_transient() {
    let (port, inbox) = start_server();
    let ch = EmailChannel::new(&config(
        format!("smtp://127.0.0.1:{port}?tls=required"),
        Duration::from_secs(5),
    ))
    .await
    .unwrap();
    let err = ch
        .send(&outgoing("k-starttls", &["anna@example.nl"]))
        .await
        .unwrap_err();
    match &err {
        SendError::Transient { message, .. } => assert!(message.contains("STARTTLS"), "{message}"),
        other => panic!("expected transient, got {other:?}"),
    }
    assert!(received(&inbox).is_empty());
}

// ---- A scripted SMTP server, for what mailin-embedded cannot do ------------------------------

/// What the scripted server does after receiving a message's data.
#[derive(Clone, Copy)]
enum AfterData {
    /// Answers 250.
    Accept,
    /// Answers 250 and hangs up, as a server closing idle or used connections does.
    AcceptAndHangUp,
    /// Answers nothing to the first message (the client is left mid-transaction), 250 to
    /// later ones.
    StallFirst,
}

/// The command lines of each connection, in order; `"<closed>"` once the client hung up.
type Transcripts = Arc<Mutex<Vec<Vec<String>>>>;

/// A minimal SMTP server on 127.0.0.1: one thread per connection, AUTH PLAIN accepted.
fn start_scripted_server(after: AfterData) -> (u16, Transcripts) {
    start_scripted(after, false)
}

/// With `pipelining`, the server offers PIPELINING (RFC 2920) and answers MAIL and RCPT only
/// once DATA has arrived too, as a server reading a pipelined batch may: a client that waits
/// for each reply before its next command waits forever. Without it, a command that arrives
/// before the reply to the one before is logged as `"<ahead>"`. Any address containing
/// `bounce` is refused with 550; DATA without an accepted recipient with 554.
fn start_scripted(after: AfterData, pipelining: bool) -> (u16, Transcripts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let transcripts: Transcripts = Arc::default();
    let all = Arc::clone(&transcripts);
    std::thread::spawn(move || {
        let messages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let index = {
                let mut all = all.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            let all = Arc::clone(&all);
            let messages = Arc::clone(&messages);
            std::thread::spawn(move || {
                let log = |line: &str| all.lock().unwrap()[index].push(line.to_string());
                serve_scripted(stream, after, pipelining, &messages, log);
            });
        }
    });
    (port, transcripts)
}

fn serve_scripted(
    mut stream: TcpStream,
    after: AfterData,
    pipelining: bool,
    messages: &std::sync::atomic::AtomicUsize,
    log: impl Fn(&str),
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut reply = |text: &str| stream.write_all(text.as_bytes()).is_ok();
    let mut line = String::new();
    let read = |reader: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        matches!(reader.read_line(line), Ok(n) if n > 0)
    };
    if !reply("220 scripted ESMTP\r\n") {
        return;
    }
    // Replies held back until DATA (pipelining), and the recipients accepted.
    let mut held = String::new();
    let mut accepted = 0;
    while read(&mut reader, &mut line) {
        let command = line.trim_end().to_string();
        log(&command);
        if !pipelining && !reader.buffer().is_empty() {
            log("<ahead>");
        }
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" if pipelining => reply("250-scripted\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"),
            "EHLO" => reply("250-scripted\r\n250 AUTH PLAIN LOGIN\r\n"),
            "AUTH" => reply("235 2.7.0 Authenticated\r\n"),
            "QUIT" => {
                reply("221 bye\r\n");
                break;
            }
            "MAIL" | "RCPT" => {
                let answer = match command.contains("bounce") {
                    true => "550 5.1.1 no such user\r\n",
                    false => {
                        accepted += usize::from(verb == "RCPT");
                        "250 ok\r\n"
                    }
                };
                match pipelining {
                    true => {
                        held.push_str(answer);
                        true
                    }
                    false => reply(answer),
                }
            }
            "DATA" if accepted == 0 => {
                held.push_str("554 5.5.1 no valid recipients\r\n");
                reply(&std::mem::take(&mut held))
            }
            "DATA" => {
                accepted = 0;
                held.push_str("354 go ahead\r\n");
                if !reply(&std::mem::take(&mut held)) {
                    return;
                }
                let mut ended = false;
                while !ended && read(&mut reader, &mut line) {
                    ended = line == ".\r\n";
                }
                if !ended {
                    // The client hung up before the end of the data: nothing is delivered.
                    log("<aborted>");
                    break;
                }
                let n = messages.fetch_add(1, Ordering::SeqCst);
                log("<message>");
                match after {
                    AfterData::Accept => reply("250 2.0.0 queued\r\n"),
                    AfterData::AcceptAndHangUp => {
                        reply("250 2.0.0 queued\r\n");
                        return;
                    }
                    AfterData::StallFirst if n == 0 => true, // no answer
                    AfterData::StallFirst => reply("250 2.0.0 queued\r\n"),
                }
            }
            _ => reply("250 ok\r\n"),
        };
        if !ok {
            return;
        }
    }
    log("<closed>");
}

fn transcripts(t: &Transcripts) -> Vec<Vec<String>> {
    t.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_is_not_reused() {
    let (port, t) = start_scripted_server(AfterData::AcceptAndHangUp);
    let ch = channel(port).await;
    for i in 0..3 {
        ch.send(&outgoing(&format!("k-hangup-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
    }
    // One connection per message: the parked connection failed its check and was replaced.
    let t = transcripts(&t);
    assert_eq!(t.len(), 3, "{t:?}");
    for conn in &t {
        assert_eq!(
            conn.iter().filter(|l| *l == "<message>").count(),
            1,
            "{conn:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_connection_is_closed_not_reused() {
    let (port, t) = start_scripted_server(AfterData::StallFirst);
    let ch = channel_within(port, Duration::from_millis(500)).await;
    let err = ch
        .send(&outgoing("k-stalled", &["anna@example.nl"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { message, .. } if message.contains("no answer")),
        "{err:?}"
    );
    ch.send(&outgoing("k-next", &["anna@example.nl"]))
        .await
        .unwrap();
    let seen = transcripts(&t);
    assert_eq!(seen.len(), 2, "the stalled connection was reused: {seen:?}");
    assert!(seen[1].contains(&"<message>".to_string()), "{seen:?}");
    // The client hung up on the stalled connection (waited for here, not timed).
    for _ in 0..200 {
        if transcripts(&t)[0].last().is_some_and(|l| l == "<closed>") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        transcripts(&t)[0].last().map(String::as_str),
        Some("<closed>"),
        "{:?}",
        transcripts(&t)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent_once_per_connection() {
    use base64::Engine as _;
    let (port, t) = start_scripted_server(AfterData::Accept);
    let tmp = tempfile::tempdir().unwrap();
    let password = tmp.path().join("password");
    std::fs::write(&password, "geheim\n").unwrap();
    let ch = EmailChannel::new(&EmailConfig {
        transport: EmailTransportConfig::Smtp(SmtpConfig {
            username: Some("rustig".into()),
            password_file: Some(password),
            pool_size: 2,
            ..SmtpConfig::new(format!("smtp://127.0.0.1:{port}"))
        }),
        from: FROM.into(),
        timeout: Duration::from_secs(10),
        dkim: None,
    })
    .await
    .unwrap();
    for i in 0..2 {
        ch.send(&outgoing(&format!("k-auth-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
    }
    let t = transcripts(&t);
    assert_eq!(t.len(), 1, "{t:?}");
    let auth: Vec<&String> = t[0].iter().filter(|l| l.starts_with("AUTH")).collect();
    assert_eq!(auth.len(), 1, "{t:?}");
    let token = auth[0].strip_prefix("AUTH PLAIN ").expect("AUTH PLAIN");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    assert_eq!(decoded, b"\0rustig\0geheim");
    // The connection was reused at once for the second message: no NOOP before a message
    // on a connection that was idle for less than 5 s.
    let commands: Vec<&str> = t[0]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .filter(|c| !c.starts_with("AUTH"))
        .collect();
    assert_eq!(
        commands,
        [
            "EHLO",
            "EHLO", // rustig's own, for the extensions lettre does not keep (PIPELINING)
            "MAIL",
            "RCPT",
            "DATA",
            "<message>",
            "MAIL",
            "RCPT",
            "DATA",
            "<message>"
        ]
    );
}

/// A connection idle for more than 5 s answers a NOOP before it carries the next message; one
/// reused at once does not (one round trip per message saved while messages flow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_only_after_the_connection_sat_idle() {
    let (port, t) = start_scripted_server(AfterData::Accept);
    let ch = channel(port).await;
    for (i, pause) in [0, 0, 5_300].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        ch.send(&outgoing(&format!("k-idle-{i}"), &["anna@example.nl"]))
            .await
            .unwrap();
    }
    let t = transcripts(&t);
    assert_eq!(t.len(), 1, "{t:?}");
    let verbs: Vec<&str> = t[0]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .filter(|v| ["MAIL", "NOOP"].contains(v))
        .collect();
    assert_eq!(verbs, ["MAIL", "MAIL", "NOOP", "MAIL"], "{t:?}");
}

/// The commands of one connection, without the message body's marker and the final close.
fn verbs(conn: &[String]) -> Vec<&str> {
    conn.iter()
        .map(|l| l.split(' ').next().unwrap())
        .filter(|v| !["AUTH", "<closed>"].contains(v))
        .collect()
}

/// Three messages to two recipients each, to a scripted server that offers `pipelining` or
/// not: all go over one connection, in the same commands.
async fn three_messages_in_a_row(pipelining: bool) {
    let (port, t) = start_scripted(AfterData::Accept, pipelining);
    let ch = channel_within(port, Duration::from_secs(3)).await;
    for i in 0..3 {
        ch.send(&outgoing(
            &format!("k-row-{i}"),
            &["anna@example.nl", "piet@example.nl"],
        ))
        .await
        .unwrap();
    }
    let t = transcripts(&t);
    assert_eq!(t.len(), 1, "{t:?}");
    let message = ["MAIL", "RCPT", "RCPT", "DATA", "<message>"];
    assert_eq!(
        verbs(&t[0]),
        [&["EHLO", "EHLO"][..], &message, &message, &message].concat()
    );
}

/// Where the relay offers PIPELINING, MAIL, the RCPTs and DATA go in one write: the scripted
/// server answers none of them before DATA has arrived, so a client that waited for MAIL's
/// reply would wait until its timeout and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_rcpt_and_data_go_together_where_the_relay_offers_pipelining() {
    three_messages_in_a_row(true).await;
}

/// Where the relay does not offer it, each command waits for the reply to the one before: the
/// scripted server logs `"<ahead>"` (failing the comparison of commands) for one that does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_at_a_time_where_the_relay_offers_no_pipelining() {
    three_messages_in_a_row(false).await;
}

/// A refused recipient in a pipelined batch: the relay has answered DATA with 354 for the
/// other recipient, so the client hangs up without ending the data (a QUIT would be read as
/// message text): the refusal is permanent, nothing is delivered, the connection is not
/// reused, and the next message goes over a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_in_a_pipelined_batch_sends_nothing() {
    let (port, t) = start_scripted(AfterData::Accept, true);
    let ch = channel_within(port, Duration::from_secs(3)).await;
    let err = ch
        .send(&outgoing(
            "k-bounce",
            &["anna@example.nl", "bounce@example.nl"],
        ))
        .await
        .unwrap_err();
    match &err {
        SendError::Permanent(m) => assert!(m.contains("550"), "{m}"),
        other => panic!("expected permanent, got {other:?}"),
    }
    // Every recipient refused: DATA's 554 follows RCPT's 550; the first refusal decides.
    let err = ch
        .send(&outgoing("k-bounce-all", &["bounce@example.nl"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("550")),
        "{err:?}"
    );
    ch.send(&outgoing("k-after-bounce", &["anna@example.nl"]))
        .await
        .unwrap();
    // The server logs a connection's end once it has read it (waited for, not timed).
    let mut seen = transcripts(&t);
    for _ in 0..200 {
        if seen.len() == 3
            && seen[..2]
                .iter()
                .all(|c| c.last().is_some_and(|l| l == "<closed>"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        seen = transcripts(&t);
    }
    assert_eq!(
        seen.len(),
        3,
        "a connection with a refusal was reused: {seen:?}"
    );
    assert_eq!(
        verbs(&seen[0]),
        ["EHLO", "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "<aborted>"],
        "{seen:?}"
    );
    assert_eq!(
        verbs(&seen[1]),
        ["EHLO", "EHLO", "MAIL", "RCPT", "DATA"],
        "no QUIT and no data after the 554: {seen:?}"
    );
    assert_eq!(
        verbs(&seen[2]),
        ["EHLO", "EHLO", "MAIL", "RCPT", "DATA", "<message>"],
        "{seen:?}"
    );
}
