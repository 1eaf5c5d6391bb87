//! Messages per second from rustig's email channel into a real Postfix relay, next to what
//! Postfix's own load generator (`smtp-source`) reaches against the same Postfix in the same
//! run (`cargo bench --bench smtp_postfix`; BENCHMARKS.md, "SMTP to Postfix", holds figures).
//!
//! The relay is a private Postfix instance on loopback (tests/common/postfix.rs: discard
//! transport, `reject_non_fqdn_helo_hostname`, STARTTLS with a certificate from a private
//! CA); it needs Debian's `postfix` package and root. Both clients send messages of the same
//! size (a rendered rustig message) to one recipient over `--pool` connections kept open
//! (`smtp-source -d`), each measured twice, in the order smtp-source, rustig, rustig,
//! smtp-source; a client's rate is its messages over the time of both runs. Each run sends a
//! warm-up of 200 messages first. Beside each rate the bench prints the CPU time the client's
//! own process spent per message (smtp-source's as a waited-for child; rustig's as this
//! process, which with `--rtt-ms` includes the proxy).
//!
//! Options: `--messages N` (20000), `--pool N` (8, as comma list: `8,32`), `--tls` (also
//! measure rustig with STARTTLS; smtp-source has no TLS), `--rtt-ms N` (0: both clients reach
//! Postfix through a proxy in this process that delays each direction by half of N, as a relay
//! across the internet is; use fewer `--messages`, as each message then takes round trips of N).

// As the `rustig` binary (src/main.rs): the message build allocates, and glibc's malloc
// took a fifth of the email channel's user time here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/postfix.rs"]
mod postfix;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustig::config::{EmailConfig, EmailTransportConfig, SmtpConfig, TlsMode};
use rustig::model::{ChannelKind, Contact, Locale, Role};
use rustig::send::email::{build_message, EmailChannel};
use rustig::send::{Channel, Outgoing, Rendered};

const FROM: &str = "Coornhert Lyceum <noreply@coornhert.example>";

struct Args {
    messages: usize,
    pools: Vec<u32>,
    tls: bool,
    rtt: Duration,
}

fn args() -> Args {
    let mut a = Args {
        messages: 20_000,
        pools: vec![8],
        tls: false,
        rtt: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--messages" => a.messages = it.next().and_then(|v| v.parse().ok()).unwrap(),
            "--pool" => {
                a.pools = it
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|p| p.parse().unwrap())
                    .collect()
            }
            "--tls" => a.tls = true,
            "--rtt-ms" => {
                a.rtt = Duration::from_millis(it.next().and_then(|v| v.parse().ok()).unwrap())
            }
            _ => {} // `cargo bench` passes --bench
        }
    }
    a
}

fn outgoing(key: String) -> Outgoing {
    Outgoing {
        key,
        school: "coornhert".into(),
        recipient: "g-2001".into(),
        recipient_name: "Anna de Jong".into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        contacts: vec![Contact::Email("anna@example.nl".into())],
        locale: Locale::Nl,
        content: Rendered {
            subject: "Nieuw cijfer voor Merel — wiskunde".into(),
            text: "Beste Anna,\n\nMerel heeft een nieuw cijfer voor wiskunde: een toets \
                   (hoofdstuk 4, weging 2). Het is vanmiddag in de klas besproken.\n\n\
                   Met vriendelijke groet,\nCoornhert Lyceum\n"
                .repeat(3),
            html: "<p>Beste Anna,</p><p>Merel heeft een nieuw cijfer voor <b>wiskunde</b>: \
                   een toets (hoofdstuk 4, weging 2).</p><p>Coornhert Lyceum</p>"
                .repeat(3),
            title: String::new(),
            body: String::new(),
        },
        notices: vec![],
        settings_url: None,
        unsubscribe_url: None,
    }
}

/// A client's rate, and the CPU time (user and system) its own process spent per message: the
/// two clients share the machine with Postfix, so what one client burns the relay lacks.
struct Rate {
    per_s: f64,
    cpu_us: f64,
}

impl Rate {
    /// Two runs of the same number of messages as one: the messages over the time of both.
    fn both(a: &Rate, b: &Rate) -> Rate {
        Rate {
            per_s: 2.0 / (1.0 / a.per_s + 1.0 / b.per_s),
            cpu_us: (a.cpu_us + b.cpu_us) / 2.0,
        }
    }
}

/// User and system CPU time of this process (`RUSAGE_SELF`) or of its waited-for children
/// (`RUSAGE_CHILDREN`), in microseconds.
fn cpu_us(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// `smtp-source` over `pool` kept-open connections.
fn smtp_source(port: u16, pool: u32, messages: usize, size: usize) -> Rate {
    let run = |n: usize| {
        let started = Instant::now();
        let out = Command::new("/usr/sbin/smtp-source")
            .args(["-d", "-s", &pool.to_string(), "-m", &n.to_string()])
            .args(["-l", &size.to_string()])
            .args(["-f", "noreply@coornhert.example", "-t", "anna@example.nl"])
            .args(["-M", "bench.coornhert.example"])
            .arg(format!("127.0.0.1:{port}"))
            .output()
            .expect("smtp-source (Debian's postfix package)");
        assert!(
            out.status.success(),
            "smtp-source: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    run(200);
    let cpu = cpu_us(libc::RUSAGE_CHILDREN);
    let elapsed = run(messages);
    Rate {
        per_s: messages as f64 / elapsed.as_secs_f64(),
        cpu_us: (cpu_us(libc::RUSAGE_CHILDREN) - cpu) / messages as f64,
    }
}

/// rustig's email channel with `pool` connections.
async fn rustig(
    pf: &postfix::Postfix,
    port: u16,
    pool: u32,
    tls: TlsMode,
    messages: usize,
    tag: &str,
) -> Rate {
    let url = match tls {
        TlsMode::None => format!("smtp://127.0.0.1:{port}"),
        _ => format!("smtp://localhost:{port}"),
    };
    let channel = Arc::new(
        EmailChannel::new(&EmailConfig {
            transport: EmailTransportConfig::Smtp(SmtpConfig {
                pool_size: pool,
                tls: Some(tls),
                ca_file: Some(pf.ca_file.clone()),
                ..SmtpConfig::new(url)
            }),
            from: FROM.into(),
            timeout: Duration::from_secs(60),
            dkim: None,
        })
        .await
        .unwrap(),
    );
    let run = |n: usize, prefix: String| {
        let channel = channel.clone();
        async move {
            let started = Instant::now();
            // More senders than connections, like the scheduler's release.
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let tasks: Vec<_> = (0..pool as usize * 2)
                .map(|_| {
                    let (channel, next, prefix) = (channel.clone(), next.clone(), prefix.clone());
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= n {
                                return;
                            }
                            let msg = outgoing(format!("{prefix}-{i}"));
                            channel.send(&msg).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            started.elapsed()
        }
    };
    run(200, format!("warm-{tag}")).await;
    let cpu = cpu_us(libc::RUSAGE_SELF);
    let elapsed = run(messages, format!("run-{tag}")).await;
    Rate {
        per_s: messages as f64 / elapsed.as_secs_f64(),
        cpu_us: (cpu_us(libc::RUSAGE_SELF) - cpu) / messages as f64,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let Some(pf) = postfix::Postfix::start() else {
        eprintln!("no Postfix here: nothing measured");
        return;
    };
    let size = build_message(FROM, &outgoing("size".into()))
        .unwrap()
        .formatted()
        .len();
    let port = match a.rtt.is_zero() {
        true => pf.smtp,
        false => delay_proxy(pf.smtp, a.rtt / 2).await,
    };
    println!(
        "Postfix {} on loopback (round trip {} ms), {} messages of {size} bytes each, per pool size",
        postconf_version(),
        a.rtt.as_millis(),
        a.messages
    );
    for pool in &a.pools {
        // In the order smtp-source, rustig, rustig, smtp-source: whichever client went second
        // was measured ~3 % slower (the relay's and the machine's drift within a run), and
        // this order weighs that on both alike.
        let source_first =
            tokio::task::block_in_place(|| smtp_source(port, *pool, a.messages, size));
        let mut plain = Vec::new();
        for half in ["a", "b"] {
            let tag = format!("p{pool}{half}");
            plain.push(rustig(&pf, port, *pool, TlsMode::None, a.messages, &tag).await);
        }
        let source_last =
            tokio::task::block_in_place(|| smtp_source(port, *pool, a.messages, size));
        let source = Rate::both(&source_first, &source_last);
        let plain_both = Rate::both(&plain[0], &plain[1]);
        println!(
            "pool {pool:>3}: smtp-source {:>6.0} messages/s ({:.0} / {:.0}; {:.0} µs CPU each) | rustig {:>6.0} messages/s ({:.0} / {:.0}; {:.0} µs CPU each; {:.3}×)",
            source.per_s,
            source_first.per_s,
            source_last.per_s,
            source.cpu_us,
            plain_both.per_s,
            plain[0].per_s,
            plain[1].per_s,
            plain_both.cpu_us,
            plain_both.per_s / source.per_s
        );
        if a.tls {
            let tls = rustig(
                &pf,
                port,
                *pool,
                TlsMode::Required,
                a.messages,
                &format!("t{pool}"),
            )
            .await;
            println!(
                "pool {pool:>3}: rustig with STARTTLS (private CA) {:>6.0} messages/s ({:.0} µs CPU each; {:.3}× smtp-source without TLS)",
                tls.per_s,
                tls.cpu_us,
                tls.per_s / source.per_s
            );
        }
    }
    let log = pf.log();
    let warnings = log
        .lines()
        .filter(|l| l.contains("warning:") || l.contains("reject:"))
        .count();
    println!("Postfix log: {warnings} warnings or rejects");
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that holds back what it forwards by
/// `one_way` in each direction: the round trips of a relay that is not next door. Returns its
/// port.
async fn delay_proxy(upstream: u16, one_way: Duration) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                .await
                .unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(delayed(client_read, server_write, one_way));
            tokio::spawn(delayed(server_read, client_write, one_way));
        }
    });
    port
}

/// Copies `from` to `to`, each chunk `delay` after it was read, in order.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((read_at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(read_at + delay).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if tx
            .send((tokio::time::Instant::now(), buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn postconf_version() -> String {
    Command::new("/usr/sbin/postconf")
        .args(["-h", "mail_version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
