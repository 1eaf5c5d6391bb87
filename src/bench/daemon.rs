//! Hold and restart, measured on a real daemon process: `rustig run` started on the prepared
//! store with the whole backlog pending (plus one probe notice that is due at once).
//! Restart: from spawning the process to `/healthz` answering and to the probe's message
//! being written. Hold: the process's peak resident set (VmHWM) after that.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchError;

#[derive(Debug, Clone, Serialize)]
pub struct DaemonResult {
    /// Spawn → `GET /healthz` answers 200.
    pub healthz_s: f64,
    /// Spawn → the probe notice's message is in the outbox.
    pub first_message_s: f64,
    /// The later of the two: ready to take events and to send.
    pub ready_s: f64,
    /// Peak resident set of the daemon (VmHWM), after it started and idled for `hold_s`.
    pub vm_hwm_kb: u64,
    /// Resident set at the end of the hold.
    pub vm_rss_kb: u64,
    pub hold_s: f64,
    /// The daemon stopped with exit code 0 after SIGTERM.
    pub clean_exit: bool,
}

/// What to start.
pub struct DaemonSetup<'a> {
    pub bin: &'a Path,
    pub config: &'a Path,
    pub http_port: u16,
    pub outbox: &'a Path,
    pub log: &'a Path,
    pub hold: Duration,
    pub limit: Duration,
}

fn healthz(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn has_eml(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
    })
}

/// `VmHWM` and `VmRSS` of a process, in kB.
pub fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the daemon, measures, and stops it with SIGTERM.
pub fn hold_and_restart(s: &DaemonSetup<'_>) -> Result<DaemonResult, BenchError> {
    let log = std::fs::File::create(s.log)?;
    let start = Instant::now();
    let child = Command::new(s.bin)
        .arg("run")
        .arg("--config")
        .arg(s.config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| BenchError::Daemon(format!("starting {}: {e}", s.bin.display())))?;
    let mut child = Guard(child);
    let pid = child.0.id();
    let (mut healthz_s, mut first_message_s) = (None, None);
    while healthz_s.is_none() || first_message_s.is_none() {
        if let Some(status) = child.0.try_wait()? {
            return Err(BenchError::Daemon(format!(
                "the daemon exited ({status}) before it was ready; see {}",
                s.log.display()
            )));
        }
        if start.elapsed() > s.limit {
            return Err(BenchError::Daemon(format!(
                "not ready within {:?} (healthz {}, first message {}); see {}",
                s.limit,
                healthz_s.is_some(),
                first_message_s.is_some(),
                s.log.display()
            )));
        }
        if healthz_s.is_none() && healthz(s.http_port) {
            healthz_s = Some(start.elapsed().as_secs_f64());
        }
        if first_message_s.is_none() && has_eml(s.outbox) {
            first_message_s = Some(start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(s.hold);
    let (vm_hwm_kb, vm_rss_kb) = memory_kb(pid)
        .ok_or_else(|| BenchError::Daemon(format!("cannot read /proc/{pid}/status")))?;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut clean_exit = false;
    while Instant::now() < deadline {
        if let Some(status) = child.0.try_wait()? {
            clean_exit = status.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (healthz_s, first_message_s) = (healthz_s.unwrap_or(0.0), first_message_s.unwrap_or(0.0));
    Ok(DaemonResult {
        healthz_s,
        first_message_s,
        ready_s: healthz_s.max(first_message_s),
        vm_hwm_kb,
        vm_rss_kb,
        hold_s: s.hold.as_secs_f64(),
        clean_exit,
    })
}

/// The `rustig` binary to start: this executable when it is `rustig`.
pub fn default_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "rustig").then_some(exe)
}
