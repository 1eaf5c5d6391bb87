//! Where the released messages go: a null channel that appends one line per message to a
//! file (the work each peer's worker does per job), and a real SMTP server on loopback.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use rustig::send::{Channel, Outgoing, SendError};

/// Appends `key recipient notices` to a file for every message, one `write` each (no fsync:
/// the store records the outcome durably).
pub struct NullFile {
    file: Mutex<File>,
    lines: AtomicU64,
}

impl NullFile {
    pub fn create(path: &Path) -> std::io::Result<NullFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(NullFile {
            file: Mutex::new(file),
            lines: AtomicU64::new(0),
        })
    }

    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Channel for NullFile {
    async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        let line = format!(
            "{} {} {} {}\n",
            msg.key,
            msg.recipient,
            msg.notices.len(),
            msg.content.subject.len()
        );
        self.file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes())
            .map_err(|e| SendError::transient(format!("null sink: {e}")))?;
        self.lines.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Counts lines in a file (the null sink's output).
pub fn count_lines(path: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    Ok(bytes.iter().filter(|b| **b == b'\n').count() as u64)
}

/// What the SMTP server received.
#[derive(Debug, Default)]
pub struct SmtpCounts {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub sessions: AtomicU64,
}

/// A real SMTP server (mailin-embedded: it parses the SMTP dialogue and the DATA stream) on
/// a free port of 127.0.0.1, in background threads that live as long as the process.
/// `threads` bounds the connections served at once: give it more than the client's pool.
pub fn start_smtp_server(threads: u32) -> std::io::Result<(u16, std::sync::Arc<SmtpCounts>)> {
    use mailin_embedded::{response, Handler, Response, Server};
    use std::sync::Arc;

    #[derive(Clone)]
    struct Counter {
        counts: Arc<SmtpCounts>,
        size: u64,
        /// This connection said EHLO (the handler is cloned per connection; rustig says it
        /// twice).
        greeted: bool,
    }

    impl Handler for Counter {
        fn helo(&mut self, _ip: std::net::IpAddr, _domain: &str) -> Response {
            if !std::mem::replace(&mut self.greeted, true) {
                self.counts.sessions.fetch_add(1, Ordering::SeqCst);
            }
            response::OK
        }

        fn data_start(
            &mut self,
            _domain: &str,
            _from: &str,
            _is8bit: bool,
            _to: &[String],
        ) -> Response {
            self.size = 0;
            response::OK
        }

        fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.size += buf.len() as u64;
            Ok(())
        }

        fn data_end(&mut self) -> Response {
            self.counts.messages.fetch_add(1, Ordering::SeqCst);
            self.counts.bytes.fetch_add(self.size, Ordering::SeqCst);
            response::OK
        }
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let counts = Arc::new(SmtpCounts::default());
    let mut server = Server::new(Counter {
        counts: counts.clone(),
        size: 0,
        greeted: false,
    });
    server
        .with_name("mx.bench.example")
        .with_num_threads(threads)
        .with_tcp_listener(listener);
    std::thread::Builder::new()
        .name("bench-smtp".into())
        .spawn(move || {
            if let Err(e) = server.serve() {
                tracing::error!("bench SMTP server stopped: {e}");
            }
        })?;
    Ok((port, counts))
}
