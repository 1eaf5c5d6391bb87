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
//! The pool behaves like lettre's: a parked connection is reused only after it answers NOOP;
//! a connection that broke is never parked; connections idle for [`IDLE_TIMEOUT`] are closed
//! with QUIT, and so are all idle ones when the pool is dropped. The pool bounds idle
//! connections only; the caller bounds the sends in flight (and so the connections open).

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
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSIONS_PORT, SUBMISSION_PORT};
use reqwest::Url; // The `url` crate's `Url`, which lettre's `from_url` parses with too.
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A parked connection idle this long is closed (lettre's default too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(e: lettre::transport::smtp::Error) -> Failure {
        Failure::Smtp(e)
    }
}

// ---- Where to connect ----------------------------------------------------------------------

/// The server and how to talk to it, read from `email.url` the way lettre's `from_url` reads
/// it: `smtp://host[:25]`, `smtp://host[:587]?tls=required` (STARTTLS or fail),
/// `smtp://host[:587]?tls=opportunistic` (STARTTLS when offered), `smtps://host[:465]` (TLS
/// from the first byte); a path names the EHLO client (`smtp://host/rustig.school.example`),
/// a user and password in the URL are credentials.
pub(super) struct Endpoint {
    /// Host name or IP address (without the brackets of an IPv6 URL).
    host: String,
    port: u16,
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
    /// Parses `url`; `credentials` (from the configuration) win over any in the URL.
    pub(super) fn from_url(
        url: &str,
        credentials: Option<Credentials>,
    ) -> Result<Endpoint, String> {
        let parsed = Url::parse(url).map_err(|e| e.to_string())?;
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err("no host".into()),
        }
        .to_string();
        let tls_mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let tls = || TlsParameters::new(host.clone()).map_err(|e| e.to_string());
        let (default_port, security) = match (parsed.scheme(), tls_mode.as_deref()) {
            ("smtp", None) => (SMTP_PORT, Security::Plain),
            ("smtp", Some("required")) => (SUBMISSION_PORT, Security::StartTls(tls()?)),
            ("smtp", Some("opportunistic")) => {
                (SUBMISSION_PORT, Security::StartTlsIfOffered(tls()?))
            }
            ("smtps", _) => (SUBMISSIONS_PORT, Security::Implicit(tls()?)),
            (scheme, mode) => {
                return Err(format!(
                    "unknown scheme {scheme:?} or tls mode {mode:?} (smtp, smtps, ?tls=required)"
                ))
            }
        };
        let name = parsed.path().trim_matches('/');
        let hello = if name.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(name.to_string())
        };
        let credentials = match (credentials, parsed.password()) {
            (Some(c), _) => Some(c),
            (None, Some(password)) => Some(Credentials::new(
                percent_decode(parsed.username())?,
                percent_decode(password)?,
            )),
            (None, None) => None,
        };
        Ok(Endpoint {
            port: parsed.port().unwrap_or(default_port),
            host,
            security,
            hello,
            credentials,
        })
    }

    /// `host:port`, for error messages.
    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A new connection, greeted, encrypted and authenticated as configured.
    async fn open(&self) -> Result<AsyncSmtpConnection, Failure> {
        let tcp = connect_tcp(&self.host, self.port)
            .await
            .map_err(|source| Failure::Connect {
                server: self.server(),
                source,
            })?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(tls) => Box::new(implicit_tls(tcp, tls.clone()).await?),
            _ => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
        match &self.security {
            Security::StartTls(tls) => conn.starttls(tls.clone(), &self.hello).await?,
            Security::StartTlsIfOffered(tls) if conn.can_starttls() => {
                conn.starttls(tls.clone(), &self.hello).await?
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

/// Decodes `%XX` escapes (the user and password of a URL).
fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let escaped = tail
            .get(..2)
            .filter(|h| b == b'%' && h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                rest = &tail[2..];
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the user or password in the URL is not UTF-8".into())
}

// ---- Connecting ----------------------------------------------------------------------------

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
async fn implicit_tls(tcp: TcpStream, tls: TlsParameters) -> Result<LettreStream, Failure> {
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
    conn: AsyncSmtpConnection,
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
        let mut conn = self.checkout().await?;
        let result = conn.send(envelope, email).await;
        self.park(conn);
        Ok(result?)
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, Failure> {
        while let Some(mut conn) = self.pop_idle() {
            if conn.test_connected().await {
                return Ok(conn);
            }
            // Closed by the server, or answering nonsense: drop it (closing the socket).
            tracing::debug!("dropping a pooled SMTP connection that failed NOOP");
        }
        self.endpoint.open().await
    }

    /// The most recently parked connection (the lock is not held across the NOOP).
    fn pop_idle(&self) -> Option<AsyncSmtpConnection> {
        self.lock().pop().map(|p| p.conn)
    }

    /// Keeps `conn` for the next send, unless it broke (lettre marks a connection broken,
    /// and has sent QUIT on it, after any failed command or I/O error) or the pool is full.
    fn park(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
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
        let _ = tokio::time::timeout(QUIT_TIMEOUT, p.conn.quit()).await;
    }))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// A self-signed certificate for localhost / 127.0.0.1 (P-256, valid until 2126) and its key.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUA5xjDvt6nMgD7ndyQw3O6+b62kcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyOTE2NDQ0MFoYDzIxMjYxMTA1
MTY0NDQwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARg3o7KfbUHBR08KvhqtpSQklNz6DXmlWzJYmZvg9B5oP3A/fhsExWP
Lp6lFlRASjK+zyRnHZa4pfdaMnqCnOQNo28wbTAdBgNVHQ4EFgQUrTNd4PrZSyO9
Bbp4ZwbI3pt9kH0wHwYDVR0jBBgwFoAUrTNd4PrZSyO9Bbp4ZwbI3pt9kH0wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgAy9uRJO2T6A4caUZmy7AowRNigogk4JgiDjVehX4fnUCIFAU
f7rt1uTi1KR+j9iZAUnGVkBgRCERMa6bs73SuwKM
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgckQrxN8yVjqxNuD/
hK3cP5h52rJiQT4CPU6SNKgjW26hRANCAARg3o7KfbUHBR08KvhqtpSQklNz6DXm
lWzJYmZvg9B5oP3A/fhsExWPLp6lFlRASjK+zyRnHZa4pfdaMnqCnOQN
-----END PRIVATE KEY-----
";

    /// Counts the messages it accepts.
    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicUsize>);

    impl mailin_embedded::Handler for Counter {
        fn data_end(&mut self) -> mailin_embedded::Response {
            self.0.fetch_add(1, Ordering::SeqCst);
            mailin_embedded::response::OK
        }
    }

    /// A mailin-embedded server on 127.0.0.1, offering STARTTLS with [`CERT`] when `dir` is
    /// given (mailin-embedded does STARTTLS only, no implicit TLS).
    fn start_server(dir: Option<&std::path::Path>) -> (u16, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counter = Counter::default();
        let messages = Arc::clone(&counter.0);
        let mut server = mailin_embedded::Server::new(counter);
        server.with_name("mx.test").with_tcp_listener(listener);
        if let Some(dir) = dir {
            // mailin-embedded builds its TLS config with rustls' process-wide provider, which
            // rustls cannot choose by itself in this build (both ring and aws-lc-rs are on).
            let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&cert, CERT).unwrap();
            std::fs::write(&key, KEY).unwrap();
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

    #[tokio::test]
    async fn starttls_upgrades_the_nodelay_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (port, messages) = start_server(Some(dir.path()));
        let tls = TlsParameters::builder("localhost".into())
            .dangerous_accept_invalid_certs(true)
            .build()
            .unwrap();
        let mut endpoint = Endpoint::from_url(&format!("smtp://127.0.0.1:{port}"), None).unwrap();
        endpoint.security = Security::StartTls(tls);
        let pool = SmtpPool::new(endpoint, 1);
        pool.send(&envelope(), EMAIL).await.unwrap();
        let conn = pool.pop_idle().expect("the connection was parked");
        assert!(conn.is_encrypted());
        // Without STARTTLS on offer, `?tls=required` fails rather than send in clear text.
        let (port, _) = start_server(None);
        let pool = SmtpPool::new(
            Endpoint::from_url(&format!("smtp://127.0.0.1:{port}?tls=required"), None).unwrap(),
            1,
        );
        assert!(matches!(
            pool.send(&envelope(), EMAIL).await,
            Err(Failure::Smtp(_))
        ));
        assert_eq!(messages.load(Ordering::SeqCst), 1);
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

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::from_url(url, None).unwrap()
    }

    #[test]
    fn urls_are_read_as_lettre_reads_them() {
        let e = endpoint("smtp://mail.example.com");
        assert_eq!((e.host.as_str(), e.port), ("mail.example.com", 25));
        assert!(matches!(e.security, Security::Plain));
        assert!(e.credentials.is_none());

        let e = endpoint("smtp://127.0.0.1:2525");
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 2525));

        let e = endpoint("smtp://mail.example.com?tls=required");
        assert_eq!(e.port, 587);
        assert!(matches!(e.security, Security::StartTls(_)));

        let e = endpoint("smtp://mail.example.com:2587?tls=opportunistic");
        assert_eq!(e.port, 2587);
        assert!(matches!(e.security, Security::StartTlsIfOffered(_)));

        let e = endpoint("smtps://mail.example.com");
        assert_eq!(e.port, 465);
        assert!(matches!(e.security, Security::Implicit(_)));

        let e = endpoint("smtp://[::1]:2525/rustig.school.example");
        assert_eq!((e.host.as_str(), e.port), ("::1", 2525));
        assert_eq!(e.server(), "[::1]:2525");
        assert_eq!(e.hello, ClientId::Domain("rustig.school.example".into()));

        for bad in [
            "http://mail.example.com",
            "smtp://mail.example.com?tls=sometimes",
            "smtp:///nohost",
            "not a url",
        ] {
            assert!(Endpoint::from_url(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_come_from_the_configuration_or_the_url() {
        let e = endpoint("smtp://rustig:p%40ss%2Fw@mail.example.com");
        assert_eq!(
            e.credentials,
            Some(Credentials::new("rustig".into(), "p@ss/w".into()))
        );
        let configured = Credentials::new("config".into(), "geheim".into());
        let e = Endpoint::from_url(
            "smtp://rustig:other@mail.example.com",
            Some(configured.clone()),
        )
        .unwrap();
        assert_eq!(e.credentials, Some(configured));
        assert_eq!(percent_decode("a%2"), Ok("a%2".into()));
        assert_eq!(percent_decode("%C3%A9%zz"), Ok("é%zz".into()));
    }
}
