//! A relay that cannot be used as configured (its certificate is not trusted, it offers no
//! STARTTLS where `tls = "required"`) fails every message the same way. Trying it once per
//! message would repeat a failing handshake for each one and log the same error thousands of
//! times. So the first such failure marks the relay faulty: the fault is logged once (error
//! level, with what to change), messages are held (a transient failure that asks the
//! scheduler to wait until the next probe) without touching the network, and one message per
//! [`PROBE_EVERY`] tries the relay again. A success clears the fault (logged too).
//!
//! The gate also keeps what the admin status shows of the relay (`RelayHealth`): the fault
//! in force, since when and how many sends it held, and the last refusal of the relay's
//! setup (EHLO refused, AUTH failed) that made messages dead.
//!
//! Pure: the caller passes `now` (and the wall-clock time for the status).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The words every error text of a relay fault starts with (after `SMTP: `), held or not:
/// `rustig status` counts the pending notices whose last error has them.
pub const MARK: &str = "relay fault";
const HELD: &str = "relay fault, held";

/// How often one message tries a faulty relay again.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct FaultGate {
    state: Mutex<Option<Fault>>,
    /// The last refusal of the connection's setup (EHLO, AUTH) and when; cleared by a send
    /// that succeeds.
    setup_error: Mutex<Option<(String, DateTime<Utc>)>>,
}

#[derive(Debug, Clone)]
struct Fault {
    message: String,
    next_probe: Instant,
    /// When this fault began (wall clock, for the status).
    since: DateTime<Utc>,
    /// Sends held without connecting since it began.
    held: u64,
}

/// The fault in force, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FaultView {
    pub message: String,
    pub since: DateTime<Utc>,
    pub held: u64,
}

/// What a send should do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Go ahead (there is no fault, or this send is the probe).
    Go,
    /// Do not connect: fail with this text and ask to be retried after this long.
    Hold {
        message: String,
        retry_after: Duration,
    },
}

impl FaultGate {
    pub(super) fn admit(&self, now: Instant) -> Admit {
        let mut state = self.lock();
        match state.as_mut() {
            None => Admit::Go,
            Some(fault) if now >= fault.next_probe => {
                // This send probes; the others keep waiting.
                fault.next_probe = now + PROBE_EVERY;
                Admit::Go
            }
            Some(fault) => {
                fault.held += 1;
                Admit::Hold {
                    message: format!("{HELD}: {}", fault.message),
                    retry_after: fault.next_probe - now,
                }
            }
        }
    }

    /// Records a relay fault; true when it is new or different (then it should be logged).
    pub(super) fn failed(&self, message: &str, now: Instant, wall: DateTime<Utc>) -> bool {
        let mut state = self.lock();
        let new = state.as_ref().is_none_or(|f| f.message != message);
        let (since, held) = match state.as_ref() {
            Some(f) if !new => (f.since, f.held),
            _ => (wall, 0),
        };
        *state = Some(Fault {
            message: message.to_string(),
            next_probe: now + PROBE_EVERY,
            since,
            held,
        });
        new
    }

    /// Records that the relay works; true when that ended a fault (then it should be logged).
    pub(super) fn succeeded(&self) -> bool {
        *self.setup() = None;
        let mut state = self.lock();
        state.take().is_some()
    }

    /// Records that the relay refused the connection's setup (EHLO, AUTH).
    pub(super) fn setup_failed(&self, message: &str, wall: DateTime<Utc>) {
        *self.setup() = Some((message.to_string(), wall));
    }

    /// The fault in force, if any.
    pub(super) fn current(&self) -> Option<String> {
        self.lock().as_ref().map(|f| f.message.clone())
    }

    /// The fault in force with since when and what it held.
    pub(super) fn view(&self) -> Option<FaultView> {
        self.lock().as_ref().map(|f| FaultView {
            message: f.message.clone(),
            since: f.since,
            held: f.held,
        })
    }

    /// The last refusal of the setup, if no send succeeded since.
    pub(super) fn setup_error(&self) -> Option<(String, DateTime<Utc>)> {
        self.setup().clone()
    }

    fn setup(&self) -> std::sync::MutexGuard<'_, Option<(String, DateTime<Utc>)>> {
        self.setup_error.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Fault>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_holds_sends_and_lets_one_probe_per_interval() {
        let gate = FaultGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.admit(t0), Admit::Go);
        assert_eq!(gate.current(), None);

        let w0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(gate.failed("certificate not trusted", t0, w0));
        let w1 = w0 + chrono::Duration::seconds(5);
        assert!(
            !gate.failed("certificate not trusted", t0, w1),
            "logged once"
        );
        assert_eq!(gate.current().as_deref(), Some("certificate not trusted"));
        let s10 = Duration::from_secs(10);
        match gate.admit(t0 + s10) {
            Admit::Hold {
                message,
                retry_after,
            } => {
                assert!(message.contains("certificate not trusted"), "{message}");
                assert_eq!(retry_after, PROBE_EVERY - s10);
            }
            other => panic!("{other:?}"),
        }
        // The status: since the first failure, one send held.
        assert_eq!(
            gate.view(),
            Some(FaultView {
                message: "certificate not trusted".into(),
                since: w0,
                held: 1
            })
        );
        // At the probe time exactly one send goes; the next one waits a whole interval.
        let probe = t0 + PROBE_EVERY;
        assert_eq!(gate.admit(probe), Admit::Go);
        assert!(matches!(
            gate.admit(probe),
            Admit::Hold { retry_after, .. } if retry_after == PROBE_EVERY
        ));
        // A different fault is logged again; a success clears it, once.
        assert!(gate.failed("no STARTTLS", probe, w1));
        assert_eq!(gate.view().map(|v| (v.since, v.held)), Some((w1, 0)));
        gate.setup_failed("AUTH refused", w1);
        assert_eq!(gate.setup_error(), Some(("AUTH refused".into(), w1)));
        assert!(gate.succeeded());
        assert_eq!(gate.setup_error(), None);
        assert!(!gate.succeeded());
        assert_eq!(gate.admit(probe), Admit::Go);
        assert_eq!(gate.current(), None);
    }
}
