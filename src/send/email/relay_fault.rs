//! A relay that cannot be used as configured (its certificate is not trusted, it offers no
//! STARTTLS where `tls = "required"`) fails every message the same way. Trying it once per
//! message would repeat a failing handshake for each one and log the same error thousands of
//! times. So the first such failure marks the relay faulty: the fault is logged once (error
//! level, with what to change), messages are held (a transient failure that asks the
//! scheduler to wait until the next probe) without touching the network, and one message per
//! [`PROBE_EVERY`] tries the relay again. A success clears the fault (logged too).
//!
//! Pure: the caller passes `now`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one message tries a faulty relay again.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct FaultGate {
    state: Mutex<Option<Fault>>,
}

#[derive(Debug, Clone)]
struct Fault {
    message: String,
    next_probe: Instant,
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
            Some(fault) => Admit::Hold {
                message: format!("held, the relay is faulty: {}", fault.message),
                retry_after: fault.next_probe - now,
            },
        }
    }

    /// Records a relay fault; true when it is new or different (then it should be logged).
    pub(super) fn failed(&self, message: &str, now: Instant) -> bool {
        let mut state = self.lock();
        let new = state.as_ref().is_none_or(|f| f.message != message);
        *state = Some(Fault {
            message: message.to_string(),
            next_probe: now + PROBE_EVERY,
        });
        new
    }

    /// Records that the relay works; true when that ended a fault (then it should be logged).
    pub(super) fn succeeded(&self) -> bool {
        let mut state = self.lock();
        state.take().is_some()
    }

    /// The fault in force, if any.
    pub(super) fn current(&self) -> Option<String> {
        self.lock().as_ref().map(|f| f.message.clone())
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

        assert!(gate.failed("certificate not trusted", t0));
        assert!(!gate.failed("certificate not trusted", t0), "logged once");
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
        // At the probe time exactly one send goes; the next one waits a whole interval.
        let probe = t0 + PROBE_EVERY;
        assert_eq!(gate.admit(probe), Admit::Go);
        assert!(matches!(
            gate.admit(probe),
            Admit::Hold { retry_after, .. } if retry_after == PROBE_EVERY
        ));
        // A different fault is logged again; a success clears it, once.
        assert!(gate.failed("no STARTTLS", probe));
        assert!(gate.succeeded());
        assert!(!gate.succeeded());
        assert_eq!(gate.admit(probe), Admit::Go);
        assert_eq!(gate.current(), None);
    }
}
