//! Test helpers shared by the integration tests: a real SMTP server (mailin-embedded) on
//! 127.0.0.1 that records what it receives.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mailin_embedded::{response, Handler, Response, Server};

pub const GONE: &str = "gone@example.nl";
pub const BUSY: &str = "busy@example.nl";

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub type Inbox = Arc<Mutex<Vec<Received>>>;

/// Records every accepted message; answers 550 on RCPT for `GONE`, 451 for `BUSY`.
/// mailin-embedded clones the handler per connection, so `current` is per connection.
#[derive(Clone)]
struct Recorder {
    inbox: Inbox,
    permanent: Arc<HashSet<String>>,
    transient: Arc<HashSet<String>>,
    /// SMTP sessions opened (EHLO/HELO seen).
    sessions: Arc<AtomicUsize>,
    current: Option<Received>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.permanent.contains(to) {
            // Real servers often echo the address; rustig must not pass it on.
            Response::custom(550, format!("5.1.1 <{to}>: Recipient address rejected"))
        } else if self.transient.contains(to) {
            Response::custom(451, "4.7.1 Greylisted, try again later".into())
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.inbox.lock().unwrap().push(done);
        }
        response::OK
    }
}

/// Starts an SMTP server on a free port of 127.0.0.1 in a background thread.
pub fn start_server() -> (u16, Inbox) {
    let (port, inbox, _) = start_counting_server();
    (port, inbox)
}

/// Like `start_server`, also counting SMTP sessions.
pub fn start_counting_server() -> (u16, Inbox, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let sessions = Arc::new(AtomicUsize::new(0));
    let handler = Recorder {
        inbox: Arc::clone(&inbox),
        permanent: Arc::new([GONE.to_string()].into()),
        transient: Arc::new([BUSY.to_string()].into()),
        sessions: Arc::clone(&sessions),
        current: None,
    };
    let mut server = Server::new(handler);
    server
        .with_name("mx.test")
        .with_num_threads(8)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            panic!("SMTP test server stopped: {e}");
        }
    });
    (port, inbox, sessions)
}

impl Received {
    /// The value of a header (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        let mut lines = self.data.split("\r\n").peekable();
        while let Some(l) = lines.next() {
            if l.is_empty() {
                return None;
            }
            if l.to_ascii_lowercase().starts_with(&prefix) {
                let mut v = l[prefix.len()..].trim().to_string();
                while lines
                    .peek()
                    .is_some_and(|n| n.starts_with(' ') || n.starts_with('\t'))
                {
                    v.push(' ');
                    v.push_str(lines.next().unwrap().trim());
                }
                return Some(v);
            }
        }
        None
    }
}
