//! Who is logged in to the dashboard: a random session id in an `HttpOnly`,
//! `SameSite=Strict` cookie, and the session itself only here, in the daemon's memory (a
//! restart logs everyone out). A session ends after [`IDLE`] without a request or [`LIFETIME`]
//! after the log-in, whichever comes first; each carries its own CSRF token for the forms.
//!
//! Failed log-ins (and wrong operate tokens in an action's form) are counted per client
//! address: [`MAX_FAILURES`] within [`FAILURE_WINDOW`] and that address is refused until the
//! window has passed.
//!
//! Times are `Instant`s handed in by the caller (the wall clock of the operator's visit, not
//! the scheduler's clock), so that the rules here are tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::admin::Caller;

/// A session ends this long after its last request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// And at the latest this long after the log-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Sessions kept at most; beyond it the one idle longest is ended.
pub const MAX_SESSIONS: usize = 1_000;
/// Failed attempts from one address within [`FAILURE_WINDOW`] before it is refused.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses whose failures are remembered at most.
const MAX_ADDRESSES: usize = 10_000;

/// The session cookie's name.
pub const COOKIE: &str = "rustig_session";

/// One logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who logged in, with the level of the token used.
    pub caller: Caller,
    /// The token every form of this session carries.
    pub csrf: String,
    pub started: Instant,
    pub seen: Instant,
    /// A message for the next page (after an action's redirect), with `true` for an error.
    pub flash: Option<(String, bool)>,
}

/// The sessions, by the SHA-256 of their id (the id itself is only in the cookie).
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 32 random bytes as hex.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("the system's random source");
    hex::encode(b)
}

impl Sessions {
    /// Starts a session for `caller`; its id (for the cookie).
    pub fn start(&self, caller: Caller, now: Instant) -> String {
        let id = random_id();
        let mut map = self.map.lock().expect("session lock");
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            key(&id),
            Session {
                caller,
                csrf: random_id(),
                started: now,
                seen: now,
                flash: None,
            },
        );
        id
    }

    /// The live session of `id`, marked as seen now (taking its flash message); an expired
    /// one is ended.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.map.lock().expect("session lock");
        let k = key(id);
        let s = map.get_mut(&k)?;
        if !live(s, now) {
            map.remove(&k);
            return None;
        }
        s.seen = now;
        let out = s.clone();
        s.flash = None;
        Some(out)
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, id: &str, message: String, error: bool) {
        if let Some(s) = self.map.lock().expect("session lock").get_mut(&key(id)) {
            s.flash = Some((message, error));
        }
    }

    /// Ends a session; what it was.
    pub fn end(&self, id: &str) -> Option<Session> {
        self.map.lock().expect("session lock").remove(&key(id))
    }

    pub fn len(&self) -> usize {
        self.map.lock().expect("session lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.saturating_duration_since(s.seen) < IDLE
        && now.saturating_duration_since(s.started) < LIFETIME
}

/// Whether a form's CSRF token is the session's, in constant time.
pub fn csrf_ok(session: &Session, given: Option<&str>) -> bool {
    let given = given.unwrap_or_default();
    given.len() == session.csrf.len() && bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes()))
}

/// Failed attempts per client address.
#[derive(Debug, Default)]
pub struct Failures {
    map: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Failures {
    /// Whether `address` may try (fewer than [`MAX_FAILURES`] in its window).
    pub fn allowed(&self, address: &str, now: Instant) -> bool {
        let map = self.map.lock().expect("failure lock");
        match map.get(address) {
            Some((since, n)) => {
                now.saturating_duration_since(*since) >= FAILURE_WINDOW || *n < MAX_FAILURES
            }
            None => true,
        }
    }

    /// Counts one failure of `address`.
    pub fn failed(&self, address: &str, now: Instant) {
        let mut map = self.map.lock().expect("failure lock");
        if map.len() >= MAX_ADDRESSES && !map.contains_key(address) {
            map.retain(|_, (since, _)| now.saturating_duration_since(*since) < FAILURE_WINDOW);
            if map.len() >= MAX_ADDRESSES {
                // Under a flood of fresh addresses: the oldest entry goes.
                if let Some(oldest) = map.iter().min_by_key(|(_, v)| v.0).map(|(k, _)| k.clone()) {
                    map.remove(&oldest);
                }
            }
        }
        let e = map.entry(address.to_string()).or_insert((now, 0));
        if now.saturating_duration_since(e.0) >= FAILURE_WINDOW {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a session id: `HttpOnly`, `SameSite=Strict`, `Path=/`, no `Max-Age`
/// (gone when the browser closes; the server ends it sooner, see [`IDLE`]); `Secure` when
/// the request came over HTTPS through a proxy that says so.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Level;

    fn caller() -> Caller {
        Caller {
            name: "jan".into(),
            level: Level::Read,
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.start(caller(), t0);
        assert_eq!(id.len(), 64);
        assert!(s.touch(&id, t0 + IDLE / 2).is_some());
        // Seen at IDLE/2: still live at IDLE.
        assert!(s.touch(&id, t0 + IDLE).is_some());
        assert!(s
            .touch(&id, t0 + IDLE * 2 + Duration::from_secs(1))
            .is_none());
        assert!(s.is_empty(), "an expired session is ended");

        let id = s.start(caller(), t0);
        let mut t = t0;
        while t < t0 + LIFETIME - IDLE {
            t += IDLE / 2;
            assert!(s.touch(&id, t).is_some());
        }
        assert!(s.touch(&id, t0 + LIFETIME).is_none(), "8 h at most");
        assert!(s.touch("nonsense", t0).is_none());
    }

    #[test]
    fn flash_messages_show_once_and_logout_ends_the_session() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.start(caller(), t0);
        s.flash(&id, "done".into(), false);
        assert_eq!(
            s.touch(&id, t0).unwrap().flash,
            Some(("done".into(), false))
        );
        assert_eq!(s.touch(&id, t0).unwrap().flash, None);
        let ended = s.end(&id).unwrap();
        assert!(csrf_ok(&ended, Some(&ended.csrf)));
        assert!(!csrf_ok(&ended, Some("x")));
        assert!(!csrf_ok(&ended, None));
        assert!(s.touch(&id, t0).is_none());
    }

    #[test]
    fn failures_lock_an_address_for_a_window() {
        let f = Failures::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(f.allowed("10.0.0.1", t0));
            f.failed("10.0.0.1", t0);
        }
        assert!(!f.allowed("10.0.0.1", t0 + Duration::from_secs(60)));
        assert!(f.allowed("10.0.0.2", t0));
        assert!(f.allowed("10.0.0.1", t0 + FAILURE_WINDOW));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("abc", false);
        assert_eq!(c, "rustig_session=abc; Path=/; HttpOnly; SameSite=Strict");
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; rustig_session=xyz".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
    }
}
