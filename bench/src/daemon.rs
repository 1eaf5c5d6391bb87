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
    /// `GET /v1/status` and `GET /metrics` with the backlog pending (routes the daemon does
    /// not serve are left out).
    pub admin: Vec<super::admin::Latency>,
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
    /// The admin listener, when the views' latency is measured.
    pub admin: Option<super::admin::AdminProbe>,
}

/// `GET /healthz` on 127.0.0.1:`port` answers 200.
pub fn healthz(port: u16) -> bool {
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

/// A `rustig run` child process (killed if dropped while running).
pub struct Daemon {
    child: Guard,
    started: Instant,
    log: PathBuf,
}

impl Daemon {
    /// Starts `bin run --config config`, its output going to `log`.
    pub fn spawn(bin: &Path, config: &Path, log: &Path) -> Result<Daemon, BenchError> {
        let file = std::fs::File::create(log)?;
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|e| BenchError::Daemon(format!("starting {}: {e}", bin.display())))?;
        Ok(Daemon {
            child: Guard(child),
            started,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Seconds since the process was spawned.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Polls until every check has passed once; returns, per check, the seconds from spawn
    /// to its first pass.
    pub fn wait_for(
        &mut self,
        checks: &mut [(&str, &mut dyn FnMut() -> bool)],
        limit: Duration,
    ) -> Result<Vec<f64>, BenchError> {
        let mut passed: Vec<Option<f64>> = vec![None; checks.len()];
        while passed.iter().any(Option::is_none) {
            if let Some(status) = self.child.0.try_wait()? {
                return Err(BenchError::Daemon(format!(
                    "the daemon exited ({status}) before it was ready; see {}",
                    self.log.display()
                )));
            }
            if self.started.elapsed() > limit {
                let missing: Vec<&str> = checks
                    .iter()
                    .zip(&passed)
                    .filter(|(_, p)| p.is_none())
                    .map(|((name, _), _)| *name)
                    .collect();
                return Err(BenchError::Daemon(format!(
                    "not ready within {limit:?} ({} missing); see {}",
                    missing.join(", "),
                    self.log.display()
                )));
            }
            for ((_, check), p) in checks.iter_mut().zip(passed.iter_mut()) {
                if p.is_none() && check() {
                    *p = Some(self.elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(passed.into_iter().map(|p| p.unwrap_or(0.0)).collect())
    }

    /// SIGTERM, then waits up to 30 s; `true` when it exited with code 0.
    pub fn stop(mut self) -> Result<bool, BenchError> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.0.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(false)
    }
}

/// Starts the daemon, measures, and stops it with SIGTERM.
pub fn hold_and_restart(s: &DaemonSetup<'_>) -> Result<DaemonResult, BenchError> {
    let mut daemon = Daemon::spawn(s.bin, s.config, s.log)?;
    let times = daemon.wait_for(
        &mut [
            ("/healthz", &mut || healthz(s.http_port)),
            ("the probe's message", &mut || has_eml(s.outbox)),
        ],
        s.limit,
    )?;
    std::thread::sleep(s.hold);
    let mut admin = Vec::new();
    if let Some(probe) = &s.admin {
        for route in ["/v1/status", "/metrics"] {
            admin.extend(super::admin::measure(probe, route)?);
        }
    }
    let pid = daemon.pid();
    let (vm_hwm_kb, vm_rss_kb) = memory_kb(pid)
        .ok_or_else(|| BenchError::Daemon(format!("cannot read /proc/{pid}/status")))?;
    let clean_exit = daemon.stop()?;
    let (healthz_s, first_message_s) = (times[0], times[1]);
    Ok(DaemonResult {
        healthz_s,
        first_message_s,
        ready_s: healthz_s.max(first_message_s),
        vm_hwm_kb,
        vm_rss_kb,
        hold_s: s.hold.as_secs_f64(),
        clean_exit,
        admin,
    })
}

/// The `rustig` binary to start: the one next to this executable (`cargo build` puts both
/// in the same target folder; `rustig bench` runs this executable from there).
pub fn default_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let rustig = exe.with_file_name(format!("rustig{}", std::env::consts::EXE_SUFFIX));
    rustig.is_file().then_some(rustig)
}
