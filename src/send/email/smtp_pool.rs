//! The SMTP connections of the email channel: opened by rustig with `TCP_NODELAY` set, spoken
//! to by lettre, kept in a small pool.
//!
//! Why not lettre's `AsyncSmtpTransport`, which pools too: it connects without `TCP_NODELAY`,
//! and it writes the end of a message (`\r\n.\r\n`, 5 bytes) as a write of its own after the
//! body. Nagle's algorithm holds those 5 bytes back until the body is acknowledged, and the
//! server, which has nothing to answer before the dot, delays that acknowledgement (40 ms on
//! Linux). So every message waited ~40 ms and one connection carried at most ~20 messages a
//! second (BENCHMARKS.md, "SMTP"). lettre offers no hook into how its transport connects (its
//! `Executor` trait is sealed), so this module opens the `TcpStream` itself, sets
//! `TCP_NODELAY`, and hands the stream to lettre's [`AsyncSmtpConnection`], which still does
//! all of SMTP: greeting, EHLO, STARTTLS, AUTH, the mail transaction, QUIT.
//!
//! Pipelining (RFC 2920): when the relay offers `PIPELINING`, a message's MAIL, RCPT and DATA go
//! in one write and their replies are read after it: two round trips per message instead of
//! four, which is what a relay across the internet (tens of milliseconds away) makes a message
//! cost. lettre has no pipelining and does not tell which extensions beyond its own the relay
//! offers, so the connection asks with an EHLO of its own after lettre's setup (one command per
//! connection), and hands lettre the three commands as one. When a reply in the batch is an
//! error, the connection is closed without a QUIT and without the end of data: the replies
//! still unread would answer a QUIT out of turn, a relay that took some of the recipients and
//! answered DATA with 354 would read it as message text, and a message without its end is
//! never delivered. The message's text and its end (`CRLF . CRLF`) go in one write too, where
//! lettre's `message` writes them apart: one segment and one wake-up of the relay per message.
//!
//! The pool: a connection parked for less than [`NOOP_AFTER_IDLE`], on which the relay has
//! sent nothing since (no FIN, no unasked 421: a look at the socket, no round trip), is reused
//! as it is, and its MAIL FROM is the check: when that fails without a reply (the relay
//! closed the connection in between), nothing was sent and a new connection carries the
//! message. Any other parked connection must first answer NOOP (lettre's pool sends a NOOP
//! before every message, one round trip per message for nothing while messages flow). A connection that broke is never
//! parked; connections idle for [`IDLE_TIMEOUT`] are closed with QUIT, and so are all idle
//! ones when the pool is dropped. The pool bounds idle connections only; the caller bounds the
//! sends in flight (and so the connections open).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // See `implicit_tls`.
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::trust::certificate_problem;
use crate::config::email::{SmtpTarget, TlsMode};

/// A parked connection idle this long is closed (lettre's default too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A parked connection idle longer than this must answer NOOP before it carries a message.
/// Relays close idle connections after minutes (Postfix: `smtpd_timeout`, 300 s), so one
/// parked for less is alive unless the relay went away; then the send fails as transient and
/// is retried, like any send the relay breaks off.
pub(super) const NOOP_AFTER_IDLE: Duration = Duration::from_secs(5);

/// How often idle connections are looked at.
const REAP_EVERY: Duration = Duration::from_secs(15);

/// How long a QUIT may take when closing idle connections.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a send over the pool failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// No TCP connection to the server.
    Connect { server: String, source: io::Error },
    /// TLS, the SMTP dialogue or the server's answer (lettre's error, with the reply code).
    Smtp(lettre::transport::smtp::Error),
    /// The relay cannot be used as configured, whatever the message: its certificate is not
    /// trusted, or it offers no STARTTLS where `tls = "required"`.
    Relay(String),
    /// The relay answered the connection's setup with an error: the greeting or `EHLO`
    /// (a strict HELO policy), or `AUTH` (a wrong password). Judged as any SMTP error (a 5xx
    /// makes the message dead), and shown in the status as the relay's last error.
    Setup {
        stage: &'static str,
        error: lettre::transport::smtp::Error,
    },
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(e: lettre::transport::smtp::Error) -> Failure {
        Failure::Smtp(e)
    }
}

// ---- Where to connect ----------------------------------------------------------------------

/// The relay and how to talk to it: address, TLS mode and trust, EHLO name, credentials.
pub(super) struct Endpoint {
    target: SmtpTarget,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
}

enum Security {
    Plain,
    StartTlsIfOffered(TlsParameters),
    StartTls(TlsParameters),
    Implicit(TlsParameters),
}

impl Endpoint {
    /// `tls` is used for every mode but `none`; `credentials` (from the configuration) win
    /// over any in the URL.
    pub(super) fn new(
        target: SmtpTarget,
        tls: TlsParameters,
        hello: String,
        credentials: Option<Credentials>,
    ) -> Endpoint {
        let security = match target.tls {
            TlsMode::None => Security::Plain,
            TlsMode::Opportunistic => Security::StartTlsIfOffered(tls),
            TlsMode::Required => Security::StartTls(tls),
            TlsMode::Implicit => Security::Implicit(tls),
        };
        let credentials = credentials.or_else(|| {
            target
                .user_password
                .clone()
                .map(|(user, password)| Credentials::new(user, password))
        });
        Endpoint {
            target,
            security,
            hello: ClientId::Domain(hello),
            credentials,
        }
    }

    /// `host:port`, for messages.
    pub(super) fn server(&self) -> String {
        self.target.server()
    }

    /// A new connection, greeted, encrypted and authenticated as configured.
    pub(super) async fn open(&self) -> Result<Conn, Failure> {
        let tcp = connect_tcp(&self.target.host, self.target.port)
            .await
            .map_err(|source| Failure::Connect {
                server: self.server(),
                source,
            })?;
        let watch = watch_handle(&tcp).map_err(|source| Failure::Connect {
            server: self.server(),
            source,
        })?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(tls) => Box::new(
                implicit_tls(tcp, tls.clone())
                    .await
                    .map_err(|e| self.tls_failure(e))?,
            ),
            _ => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|error| Failure::Setup {
                stage: "EHLO",
                error,
            })?;
        match &self.security {
            Security::StartTls(_) if !conn.can_starttls() => {
                conn.abort().await;
                return Err(Failure::Relay(format!(
                    "the relay {} does not offer STARTTLS and email.tls = \"required\"",
                    self.server()
                )));
            }
            Security::StartTls(tls) | Security::StartTlsIfOffered(tls) if conn.can_starttls() => {
                // After a failed handshake lettre's stream is gone: the connection is only
                // dropped (closing the socket), never spoken to again.
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(|e| self.tls_failure(e))?;
            }
            _ => {}
        }
        // After STARTTLS, as the relay may offer more once the connection is encrypted; before
        // AUTH, as an EHLO resets the session.
        let ehlo = conn
            .command(Ehlo::new(self.hello.clone()))
            .await
            .map_err(|error| Failure::Setup {
                stage: "EHLO",
                error,
            })?;
        let pipelining = offers(&ehlo, "PIPELINING");
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|error| Failure::Setup {
                    stage: "AUTH",
                    error,
                })?;
        }
        Ok(Conn {
            smtp: conn,
            watch,
            pipelining,
        })
    }

    /// A TLS handshake that failed on the relay's certificate is a fault of the setup, not of
    /// the message; anything else stays an SMTP failure.
    fn tls_failure(&self, e: lettre::transport::smtp::Error) -> Failure {
        match certificate_problem(&e) {
            Some(problem) => Failure::Relay(format!(
                "the TLS certificate of the relay {} is not accepted: {problem}. If the \
                 school's own CA issued it, put that CA (PEM) in email.ca_file or in the \
                 system's trust store (update-ca-certificates, SSL_CERT_FILE)",
                self.server()
            )),
            None => Failure::Smtp(e),
        }
    }

    /// What an open connection is, for `rustig check --smtp`: TLS or not, EHLO name, AUTH,
    /// pipelining.
    pub(super) fn describe(&self, conn: &Conn) -> String {
        let tls = match (&self.security, conn.smtp.is_encrypted()) {
            (Security::Implicit(_), _) => "TLS from the first byte (smtps)",
            (_, true) => "STARTTLS",
            (Security::StartTlsIfOffered(_), false) => "plain text (the relay offers no STARTTLS)",
            (_, false) => "plain text (email.tls = \"none\")",
        };
        let hello = match &self.hello {
            ClientId::Domain(d) => d.clone(),
            other => other.to_string(),
        };
        let auth = match &self.credentials {
            Some(_) => "authenticated",
            None => "no AUTH",
        };
        let pipelining = match conn.pipelining {
            true => "pipelining",
            false => "no pipelining (one round trip per command)",
        };
        format!(
            "relay {}: {tls}, EHLO {hello}, {auth}, {pipelining}",
            self.server()
        )
    }
}

/// Whether an EHLO reply lists `keyword` (one extension per line, its name first).
fn offers(ehlo: &Response, keyword: &str) -> bool {
    ehlo.message()
        .filter_map(|line| line.split_whitespace().next())
        .any(|name| name.eq_ignore_ascii_case(keyword))
}

/// MAIL, an RCPT per recipient and DATA, written as one command: lettre writes a command whole
/// and then reads one reply (MAIL's); the others are read by [`Conn::rest_of_transaction`].
struct Pipelined<'a>(&'a Envelope);

impl std::fmt::Display for Pipelined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Mail::new(self.0.from().cloned(), vec![]))?;
        for to in self.0.to() {
            write!(f, "{}", Rcpt::new(to.clone(), vec![]))?;
        }
        write!(f, "{Data}")
    }
}

/// A message's text after DATA, dot-stuffed (RFC 5321 4.5.2: a line that begins with a dot gets
/// one more, the first line too, which lettre leaves alone) and ended with `CRLF . CRLF`, written
/// as one command: otherwise the same bytes as lettre's `message`, which writes the end in a
/// write of its own (a second segment, and a second wake-up of the relay, per message) after
/// stuffing byte by byte.
struct MessageData<'a>(&'a str);

impl std::fmt::Display for MessageData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.starts_with('.') {
            f.write_str(".")?;
        }
        let mut lines = self.0.split("\r\n.");
        if let Some(first) = lines.next() {
            f.write_str(first)?;
        }
        for rest in lines {
            f.write_str("\r\n..")?;
            f.write_str(rest)?;
        }
        f.write_str("\r\n.\r\n")
    }
}

// ---- Connecting ----------------------------------------------------------------------------

/// An open SMTP connection and a second handle on its socket, to see without a round trip
/// whether the relay has closed it or sent something unasked. Both close together.
pub(super) struct Conn {
    pub(super) smtp: AsyncSmtpConnection,
    watch: std::net::TcpStream,
    /// The relay offered `PIPELINING` in its last EHLO reply.
    pipelining: bool,
}

impl Conn {
    /// Starts a transaction of a message with plain (ASCII) addresses and text: MAIL, and with
    /// pipelining RCPT and DATA in the same write. Returns MAIL's reply.
    async fn begin(
        &mut self,
        envelope: &Envelope,
    ) -> Result<Response, lettre::transport::smtp::Error> {
        match self.pipelining {
            true => self.smtp.command(Pipelined(envelope)).await,
            false => {
                self.smtp
                    .command(Mail::new(envelope.from().cloned(), vec![]))
                    .await
            }
        }
    }

    /// After a MAIL that succeeded: the replies to RCPT and DATA (sent with MAIL when
    /// pipelining, else each in turn), then the message and its reply.
    async fn rest_of_transaction(
        &mut self,
        envelope: &Envelope,
        email: &str,
    ) -> Result<Response, lettre::transport::smtp::Error> {
        if self.pipelining {
            for _ in envelope.to() {
                self.smtp.read_response().await?;
            }
            self.smtp.read_response().await?;
        } else {
            for to in envelope.to() {
                self.smtp.command(Rcpt::new(to.clone(), vec![])).await?;
            }
            self.smtp.command(Data).await?;
        }
        self.smtp.command(MessageData(email)).await
    }

    /// After a failed command: QUIT and close, or when pipelining only close (the module
    /// documentation says why). Either way the connection is not parked again.
    async fn abandon(mut self) {
        if !self.pipelining {
            self.smtp.abort().await;
        }
    }

    /// Nothing to read on the socket: the relay neither closed the connection nor sent a
    /// reply nobody asked for (a 421 before closing, a TLS alert). Reads nothing.
    fn quiet(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.watch.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// A duplicate of the socket's descriptor, sharing its non-blocking mode with Tokio's handle.
fn watch_handle(tcp: &TcpStream) -> io::Result<std::net::TcpStream> {
    use std::os::fd::AsFd;
    Ok(std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?))
}

/// Connects to `host:port` (each resolved address in turn) and sets `TCP_NODELAY`, before
/// anything is written: see the module documentation for why.
pub(super) async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for this host")))
}

/// `smtps://`: TLS before the server's greeting, which `connect_with_transport` reads first.
/// lettre's TLS (`upgrade_tls`, with the same roots and settings its transport uses) works on
/// its `AsyncNetworkStream`, which is public but deprecated as "not meant to be public"; it is
/// wrapped back into a tokio stream for `connect_with_transport`. The socket underneath keeps
/// `TCP_NODELAY`. (STARTTLS needs none of this: lettre upgrades the stream in place.)
#[allow(deprecated)]
async fn implicit_tls(
    tcp: TcpStream,
    tls: TlsParameters,
) -> Result<LettreStream, lettre::transport::smtp::Error> {
    let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
    stream.upgrade_tls(tls).await?;
    Ok(LettreStream(stream))
}

/// lettre's network stream (futures-io traits) as a tokio stream.
#[allow(deprecated)]
#[derive(Debug)]
struct LettreStream(AsyncNetworkStream);

impl AsyncRead for LettreStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(futures::io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for LettreStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for LettreStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

// ---- The pool ------------------------------------------------------------------------------

/// At most `max_idle` parked connections to one [`Endpoint`].
pub(super) struct SmtpPool {
    endpoint: Endpoint,
    max_idle: usize,
    /// Most recently parked last. Shared (weakly) with the reaper task only.
    idle: Arc<Mutex<Vec<Parked>>>,
    reaper: Option<tokio::task::JoinHandle<()>>,
}

struct Parked {
    conn: Conn,
    since: Instant,
}

impl SmtpPool {
    /// Starts the task that closes idle connections when called within a Tokio runtime
    /// (always, in rustig; without one, idle connections are only checked when reused).
    pub(super) fn new(endpoint: Endpoint, max_idle: usize) -> SmtpPool {
        let idle = Arc::new(Mutex::new(Vec::new()));
        let reaper = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(reap(Arc::downgrade(&idle))));
        SmtpPool {
            endpoint,
            max_idle,
            idle,
            reaper,
        }
    }

    /// Sends one message: over a parked connection that still answers NOOP, or else a new
    /// one, which is parked again afterwards unless it broke. When this future is dropped
    /// before it completes (the caller's timeout), the connection it holds is dropped with it,
    /// closed mid-transaction and never parked.
    pub(super) async fn send(
        &self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Response, Failure> {
        let plain = std::str::from_utf8(email).ok().filter(|text| {
            text.is_ascii()
                && envelope
                    .to()
                    .iter()
                    .all(|a| AsRef::<str>::as_ref(a).is_ascii())
                && envelope
                    .from()
                    .is_none_or(|a| AsRef::<str>::as_ref(a).is_ascii())
        });
        let (mut conn, checked) = self.checkout(plain.is_some()).await?;
        let Some(email) = plain else {
            // SMTPUTF8 or 8BITMIME, which lettre's `send` asks for where the relay offers them.
            let result = conn.smtp.send(envelope, email).await;
            self.park(conn);
            return Ok(result?);
        };
        let started = match conn.begin(envelope).await {
            Ok(_) => Ok(()),
            // Reused without NOOP: MAIL FROM is the check. If the relay closed the connection
            // meanwhile, MAIL fails without a reply and nothing was sent (DATA, when
            // pipelined, had no reply either): a new connection carries the message.
            Err(e) if !checked && !e.is_transient() && !e.is_permanent() => {
                tracing::debug!("a pooled SMTP connection was closed by the relay");
                drop(conn);
                conn = self.endpoint.open().await?;
                conn.begin(envelope).await.map(drop)
            }
            Err(e) => Err(e),
        };
        let result = match started {
            Ok(()) => conn.rest_of_transaction(envelope, email).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => self.park(conn),
            Err(_) => conn.abandon().await,
        }
        Ok(result?)
    }

    /// A parked connection (and whether it was checked: new, or it answered NOOP), or a new
    /// one. Only `plain` messages (ASCII, no SMTPUTF8) go over an unchecked connection.
    async fn checkout(&self, plain: bool) -> Result<(Conn, bool), Failure> {
        while let Some(Parked { mut conn, since }) = self.pop_idle() {
            if plain && since.elapsed() < NOOP_AFTER_IDLE && conn.quiet() {
                return Ok((conn, false));
            }
            if conn.smtp.test_connected().await {
                return Ok((conn, true));
            }
            // Closed by the server, or answering nonsense: drop it (closing the socket).
            tracing::debug!("dropping a pooled SMTP connection that failed NOOP");
        }
        Ok((self.endpoint.open().await?, true))
    }

    /// Opens a connection (greeting, TLS, AUTH) and closes it with QUIT, sending nothing:
    /// `rustig check --smtp`. Returns what the connection was.
    pub(super) async fn probe(&self) -> Result<String, Failure> {
        let mut conn = self.endpoint.open().await?;
        let description = self.endpoint.describe(&conn);
        conn.smtp.quit().await?;
        Ok(description)
    }

    /// The most recently parked connection (the lock is not held across the NOOP).
    fn pop_idle(&self) -> Option<Parked> {
        self.lock().pop()
    }

    /// Keeps `conn` for the next send, unless it broke (lettre marks a connection broken,
    /// and has sent QUIT on it, after any failed command or I/O error) or the pool is full.
    fn park(&self, conn: Conn) {
        if conn.smtp.has_broken() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Parked {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// `host:port` of the relay, for messages.
    pub(super) fn server(&self) -> String {
        self.endpoint.server()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Parked>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SmtpPool {
    /// Says QUIT on every idle connection (in a task, when there is a runtime to run it).
    fn drop(&mut self) {
        if let Some(reaper) = &self.reaper {
            reaper.abort();
        }
        let parked = std::mem::take(&mut *self.lock());
        if parked.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(quit_all(parked));
        }
    }
}

/// Every [`REAP_EVERY`], closes the connections idle for more than [`IDLE_TIMEOUT`]; ends when
/// the pool is gone.
async fn reap(idle: Weak<Mutex<Vec<Parked>>>) {
    let mut ticks = tokio::time::interval(REAP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(idle) = idle.upgrade() else { return };
        let stale: Vec<Parked> = {
            let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
            let (stale, fresh) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|p| p.since.elapsed() >= IDLE_TIMEOUT);
            *idle = fresh;
            stale
        };
        drop(idle);
        if !stale.is_empty() {
            tracing::debug!(count = stale.len(), "closing idle SMTP connections");
            quit_all(stale).await;
        }
    }
}

async fn quit_all(parked: Vec<Parked>) {
    futures::future::join_all(parked.into_iter().map(|mut p| async move {
        let _ = tokio::time::timeout(QUIT_TIMEOUT, p.conn.smtp.quit()).await;
    }))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn message_data_is_stuffed_and_ended() {
        let cases = [
            ("", "\r\n.\r\n"),
            ("a\r\n.b", "a\r\n..b\r\n.\r\n"),
            ("a\r\n.\r\n.\r\nb", "a\r\n..\r\n..\r\nb\r\n.\r\n"),
            ("a\r\n..b\r\n", "a\r\n...b\r\n\r\n.\r\n"),
            ("a\n.b\r.c", "a\n.b\r.c\r\n.\r\n"),
            // lettre leaves a dot on the very first line alone; RFC 5321 does not.
            (".a", "..a\r\n.\r\n"),
            (".\r\nb", "..\r\nb\r\n.\r\n"),
        ];
        for (text, wire) in cases {
            assert_eq!(MessageData(text).to_string(), wire, "{text:?}");
        }
    }

    proptest! {
        /// What a relay reads (RFC 5321 4.5.2): the data ends at the first line that is a lone
        /// dot, which is the end written after the text, and taking one dot off every line that
        /// begins with one gives the text back.
        #[test]
        fn a_relay_reads_the_text_back(text in "[a.\r\n]{0,40}") {
            let wire = format!("\r\n{}", MessageData(&text));
            let end = wire.find("\r\n.\r\n").unwrap();
            prop_assert_eq!(end, wire.len() - 5, "the data ends early: {:?}", wire);
            let read: Vec<&str> = wire[2..end]
                .split("\r\n")
                .map(|line| line.strip_prefix('.').unwrap_or(line))
                .collect();
            prop_assert_eq!(read.join("\r\n"), text);
        }
    }

    #[tokio::test]
    async fn connected_sockets_have_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        for host in ["127.0.0.1", "localhost"] {
            let stream = connect_tcp(host, port).await.unwrap();
            assert!(stream.nodelay().unwrap(), "{host}: TCP_NODELAY is not set");
            let _ = listener.accept().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = connect_tcp("127.0.0.1", port).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// A private CA (as a school board has) and a certificate it issued for localhost and
    /// 127.0.0.1: (CA PEM, certificate PEM, key PEM).
    fn private_ca() -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Bestuur test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
    }

    /// Counts the messages it accepts.
    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicUsize>);

    impl mailin_embedded::Handler for Counter {
        fn data_end(&mut self) -> mailin_embedded::Response {
            self.0.fetch_add(1, Ordering::SeqCst);
            mailin_embedded::response::OK
        }
    }

    /// A mailin-embedded server on 127.0.0.1, offering STARTTLS with `cert` and `key` (PEM)
    /// when given (mailin-embedded does STARTTLS only, no implicit TLS).
    fn start_server(tls: Option<(&std::path::Path, &str, &str)>) -> (u16, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counter = Counter::default();
        let messages = Arc::clone(&counter.0);
        let mut server = mailin_embedded::Server::new(counter);
        server.with_name("mx.test").with_tcp_listener(listener);
        if let Some((dir, cert_pem, key_pem)) = tls {
            // mailin-embedded builds its TLS config with rustls' process-wide provider, which
            // rustls cannot choose by itself in this build (both ring and aws-lc-rs are on).
            let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&cert, cert_pem).unwrap();
            std::fs::write(&key, key_pem).unwrap();
            server
                .with_ssl(mailin_embedded::SslConfig::SelfSigned {
                    cert_path: cert.to_str().unwrap().into(),
                    key_path: key.to_str().unwrap().into(),
                })
                .unwrap();
        }
        std::thread::spawn(move || server.serve().map_err(|e| e.to_string()));
        (port, messages)
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("noreply@school.example".parse().unwrap()),
            vec!["anna@example.nl".parse().unwrap()],
        )
        .unwrap()
    }

    const EMAIL: &[u8] = b"Subject: test\r\n\r\nHello.\r\n";

    fn endpoint(url: &str, extra_cas: &[Vec<u8>]) -> Endpoint {
        let target = SmtpTarget::parse(url, None).unwrap();
        let tls = super::super::trust::tls_parameters(&target.host, extra_cas).unwrap();
        Endpoint::new(target, tls, "rustig.school.example".into(), None)
    }

    fn der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn starttls_upgrades_the_nodelay_socket_trusting_the_private_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = private_ca();
        let (port, messages) = start_server(Some((dir.path(), &cert, &key)));
        let url = format!("smtp://127.0.0.1:{port}?tls=required");
        let pool = SmtpPool::new(endpoint(&url, &[der(&ca)]), 1);
        pool.send(&envelope(), EMAIL).await.unwrap();
        let parked = pool.pop_idle().expect("the connection was parked");
        assert!(parked.conn.smtp.is_encrypted());

        // Without the CA: a relay fault that names the cause and the fix, nothing sent;
        // opportunistic does not fall back to plain text after the failed handshake.
        for mode in ["required", "opportunistic"] {
            let url = format!("smtp://127.0.0.1:{port}?tls={mode}");
            let pool = SmtpPool::new(endpoint(&url, &[]), 1);
            match pool.send(&envelope(), EMAIL).await {
                Err(Failure::Relay(m)) => {
                    assert!(
                        m.contains("UnknownIssuer") && m.contains("email.ca_file"),
                        "{m}"
                    )
                }
                other => panic!("{mode}: {other:?}"),
            }
        }

        // Without STARTTLS on offer, `required` fails rather than send in clear text, and
        // `opportunistic` sends in plain text.
        let (port, plain_messages) = start_server(None);
        let pool = SmtpPool::new(
            endpoint(&format!("smtp://127.0.0.1:{port}?tls=required"), &[]),
            1,
        );
        assert!(matches!(
            pool.send(&envelope(), EMAIL).await,
            Err(Failure::Relay(m)) if m.contains("does not offer STARTTLS")
        ));
        let pool = SmtpPool::new(endpoint(&format!("smtp://127.0.0.1:{port}"), &[]), 1);
        pool.send(&envelope(), EMAIL).await.unwrap();
        assert!(!pool.pop_idle().unwrap().conn.smtp.is_encrypted());
        assert_eq!(messages.load(Ordering::SeqCst), 1);
        assert_eq!(plain_messages.load(Ordering::SeqCst), 1);
    }

    /// The adapter that carries lettre's own stream for `smtps://`, over plain TCP here
    /// (mailin-embedded has no implicit TLS): a whole SMTP session passes through it.
    #[tokio::test]
    #[allow(deprecated)]
    async fn lettre_stream_adapter_carries_a_session() {
        let (port, messages) = start_server(None);
        let tcp = connect_tcp("127.0.0.1", port).await.unwrap();
        let stream = LettreStream(AsyncNetworkStream::use_existing_tokio1(Box::new(tcp)));
        assert_eq!(
            stream.peer_addr().unwrap(),
            SocketAddr::from(([127, 0, 0, 1], port))
        );
        let hello = ClientId::Domain("rustig.test".into());
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
            .await
            .unwrap();
        conn.send(&envelope(), EMAIL).await.unwrap();
        assert!(conn.test_connected().await);
        conn.send(&envelope(), EMAIL).await.unwrap();
        conn.quit().await.unwrap();
        assert_eq!(messages.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn credentials_come_from_the_configuration_or_the_url() {
        let e = endpoint("smtp://rustig:p%40ss%2Fw@mail.example.com", &[]);
        assert_eq!(
            e.credentials,
            Some(Credentials::new("rustig".into(), "p@ss/w".into()))
        );
        let configured = Credentials::new("config".into(), "geheim".into());
        let target = SmtpTarget::parse("smtp://rustig:other@mail.example.com", None).unwrap();
        let tls = super::super::trust::tls_parameters(&target.host, &[]).unwrap();
        let e = Endpoint::new(target, tls, "a.example".into(), Some(configured.clone()));
        assert_eq!(e.credentials, Some(configured));
        assert_eq!(e.hello, ClientId::Domain("a.example".into()));
    }
}
