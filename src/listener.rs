//! Serves an axum `Router` on a TCP listener with the limits every rustig listener needs
//! (ingest today; the admin API and the families' page use the same): a client that trickles
//! its headers or its body is cut off, an idle keep-alive connection is closed, the request
//! body is capped, and at most `max_connections` connections are served at once.
//!
//! - Headers must arrive within `read_timeout` (hyper's header timer, which also runs while a
//!   keep-alive connection waits for its next request); the body then within `read_timeout`
//!   again, or the answer is `408` and the connection is closed.
//! - A connection that moved no byte either way for `idle_timeout` is closed; a request in
//!   progress is answered first.
//! - Connections above `max_connections` are not accepted: they wait in the kernel's accept
//!   queue until a connection closes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// The limits of one listener (`[ingest.http]`: `max_body_bytes`, `read_timeout`,
/// `idle_timeout`, `max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; larger ones get `413`.
    pub max_body_bytes: usize,
    /// For the headers of a request, and then again for its body.
    pub read_timeout: Duration,
    /// A connection without a byte either way this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15),
            max_connections: 256,
        }
    }
}

/// Serves `router` until `stop` turns true: then no new connection is accepted, requests in
/// progress are answered, and this returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(limits, read_body));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut full = false;
    loop {
        // Said once per episode: connections are waiting, unaccepted.
        if slots.available_permits() == 0 && !full {
            tracing::warn!(
                max_connections = limits.max_connections,
                "every connection slot is in use; new connections wait until one closes"
            );
        }
        full = slots.available_permits() == 0;
        let slot = tokio::select! {
            _ = stopped(&mut stop) => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        // The client's address, for handlers that limit per address (`ConnectInfo`).
        let service = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let conn = http.serve_connection(io, TowerToHyperService::new(service));
        let mut stop = stop.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        match result {
                            Err(e) if e.is_timeout() => tracing::info!(
                                "a client did not send its request headers within read_timeout; \
                                 connection closed"
                            ),
                            Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                            Ok(()) => {}
                        }
                        break;
                    }
                    _ = stopped(&mut stop), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = tokio::time::sleep_until(activity.last() + idle), if !closing => {
                        if activity.last().elapsed() >= idle {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            }
        });
    }
    // Every slot back means every connection closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone), holding no borrow of it afterwards.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Reads the whole body within `read_timeout` and at most `max_body_bytes`, so that handlers
/// get it at once and no slow client holds a handler.
async fn read_body(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if is_too_large(&e) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {} bytes", limits.max_body_bytes),
        ),
        Ok(Err(_)) => refuse(StatusCode::BAD_REQUEST, "the body could not be read"),
        Err(_) => {
            tracing::info!("a client did not send its request body within read_timeout; 408");
            refuse(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the body did not arrive within {}",
                    humantime::format_duration(limits.read_timeout)
                ),
            )
        }
    }
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// An answer after which the connection closes: the client may still be sending.
fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONNECTION, "close")],
        axum::Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    /// Milliseconds since `start`.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A TCP stream that notes every byte it moves in its `Activity`.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why a listener could not bind, in words an operator acts on (the key and the file are
/// added by the caller).
pub fn bind_problem(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => "the port is already in use (another rustig, or another \
            program, listens there): stop it or choose another port"
            .into(),
        ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges): choose a port above 1024".into()
        }
        ErrorKind::AddrNotAvailable => "no interface of this machine has that address".into(),
        _ => format!("cannot listen there: {e}"),
    }
}
