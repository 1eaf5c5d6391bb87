//! The bench's results: the machine, every figure, and a plain-text table with the targets
//! of issue 7 next to them.

use serde::Serialize;

use super::daemon::DaemonResult;
use super::ingest::IngestResult;
use super::release::ReleaseResult;
use super::Backlog;

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub memory_kb: u64,
    /// 1, 5 and 15 minute load averages when the run started.
    pub load: [f64; 3],
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu,
            memory_kb,
            load: Machine::loadavg(),
        }
    }

    pub fn loadavg() -> [f64; 3] {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
        [(); 3].map(|_| it.next().unwrap_or(0.0))
    }
}

/// Everything one `rustig bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub load_after: [f64; 3],
    pub store: String,
    pub events: usize,
    pub students: usize,
    pub guardians: usize,
    /// The instant every notice was due (local time).
    pub due: String,
    pub batch: usize,
    pub backlog: Backlog,
    pub ingest: Vec<IngestResult>,
    pub daemon: Option<DaemonResult>,
    pub release: Vec<ReleaseResult>,
    pub notes: Vec<String>,
}

/// 1234567.8 → "1 234 568".
pub fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

impl Report {
    pub fn ingest(&self, path: &str) -> Option<&IngestResult> {
        self.ingest.iter().find(|i| i.path == path)
    }

    pub fn release(&self, sink: &str) -> Option<&ReleaseResult> {
        self.release.iter().find(|r| r.sink == sink)
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut rows: Vec<[String; 3]> = Vec::new();
        let mut row = |what: String, value: String, target: &str| {
            rows.push([what, value, target.to_string()]);
        };
        for i in &self.ingest {
            let how = match i.path {
                "http" => format!(
                    "ingest, HTTP NDJSON into {} ({} per request, {} clients)",
                    match i.server {
                        "daemon" => "`rustig run`",
                        other => other,
                    },
                    i.batch,
                    i.clients
                ),
                _ => format!("ingest, in-process ({} per transaction)", i.batch),
            };
            row(
                how,
                format!(
                    "{} events/s  ({:.1} s)",
                    thousands(i.events_per_s),
                    i.seconds
                ),
                "≥ 2× pg-boss, ≥ 3× BullMQ, ≥ 25 % raw SQLite",
            );
            if let Some(p) = &i.phases {
                // Milliseconds per 1 000 events, so batches of any size compare.
                let per = |s: f64| s * 1e6 / i.events.max(1) as f64;
                row(
                    "  per 1 000 events: parse / events / facts / plan / write / commit".into(),
                    format!(
                        "{:.1} / {:.1} / {:.1} / {:.1} / {:.1} / {:.1} ms",
                        per(p.parse),
                        per(p.events),
                        per(p.facts),
                        per(p.plan),
                        per(p.write),
                        per(p.commit)
                    ),
                    "",
                );
            }
            if let Some(b) = i.written_bytes {
                row(
                    "  bytes written per event (WAL and checkpoints)".into(),
                    thousands(b as f64 / i.events.max(1) as f64),
                    "",
                );
            }
        }
        row(
            "backlog on disk".into(),
            format!(
                "{} events, {} notices, {}",
                thousands(self.backlog.events as f64),
                thousands(self.backlog.pending_notices as f64),
                self.backlog
                    .store_bytes
                    .map(|b| format!("{:.0} MB", b as f64 / 1e6))
                    .unwrap_or_else(|| "size unknown".into())
            ),
            "",
        );
        if let Some(d) = &self.daemon {
            row(
                "hold: daemon peak RSS (VmHWM)".into(),
                format!(
                    "{:.1} MB  (VmRSS {:.1} MB)",
                    d.vm_hwm_kb as f64 / 1024.0,
                    d.vm_rss_kb as f64 / 1024.0
                ),
                "≤ 100 MB with 1 000 000 events",
            );
            row(
                "restart: start → /healthz answers".into(),
                format!("{:.2} s", d.healthz_s),
                "",
            );
            row(
                "restart: start → first due message written".into(),
                format!("{:.2} s", d.first_message_s),
                "≤ 3 s with 1 000 000 events",
            );
            for a in &d.admin {
                row(
                    format!(
                        "hold: GET {} p50 / p99 / max ({} requests)",
                        a.route, a.requests
                    ),
                    format!(
                        "{:.1} / {:.1} / {:.1} ms  ({} bytes)",
                        a.p50_ms, a.p99_ms, a.max_ms, a.bytes
                    ),
                    "p99 ≤ 50 ms with 1 000 000 pending notices (issue 13)",
                );
            }
        }
        for r in &self.release {
            let sink = match r.sink {
                "smtp" => "SMTP on loopback",
                _ => "null sink",
            };
            row(
                format!("release → {sink}: notices"),
                format!(
                    "{} notices/s  ({} in {:.2} s)",
                    thousands(r.notices_per_s),
                    thousands(r.notices as f64),
                    r.seconds
                ),
                if r.sink == "null" {
                    "≥ BullMQ's release rate"
                } else {
                    ""
                },
            );
            row(
                format!("release → {sink}: messages"),
                format!(
                    "{} messages/s  ({})",
                    thousands(r.messages_per_s),
                    thousands(r.messages as f64)
                ),
                if r.sink == "smtp" {
                    "≥ 5 000 messages/s"
                } else {
                    ""
                },
            );
            row(
                format!("release → {sink}: lateness p50 / p99 / max"),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    r.lateness_p50_ms, r.lateness_p99_ms, r.lateness_max_ms
                ),
                "p99 ≤ 1 s when not saturated",
            );
            let p = &r.phases;
            if p.claims > 0 {
                // Milliseconds per claim (of [delivery] batch groups), so runs of any size compare.
                let per = |s: f64| s * 1e3 / p.claims as f64;
                row(
                    format!(
                        "release → {sink}: per claim ({} claims): claim / load / render (ahead) · wait / send",
                        p.claims
                    ),
                    format!(
                        "{:.1} / {:.1} / {:.1} · {:.1} / {:.1} ms",
                        per(p.claim),
                        per(p.load),
                        per(p.render),
                        per(p.wait),
                        per(p.send)
                    ),
                    "",
                );
            }
        }
        let w0 = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
        let mut out = format!(
            "rustig bench: {} events, {} students, {} guardians; store {}; all due {}\n\
             machine: {} × {}, {:.1} GiB; load average {:.2} {:.2} {:.2} at start, {:.2} {:.2} {:.2} at end\n\n",
            thousands(self.events as f64),
            thousands(self.students as f64),
            thousands(self.guardians as f64),
            self.store,
            self.due,
            self.machine.nproc,
            self.machine.cpu,
            self.machine.memory_kb as f64 / 1024.0 / 1024.0,
            self.machine.load[0],
            self.machine.load[1],
            self.machine.load[2],
            self.load_after[0],
            self.load_after[1],
            self.load_after[2],
        );
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
        out.push_str(&format!(
            "{}  {}  {}\n",
            pad("measure", w0),
            pad("value", w1),
            "target (issue 7)"
        ));
        out.push_str(&format!(
            "{}  {}  {}\n",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(16)
        ));
        for [a, b, c] in &rows {
            out.push_str(format!("{}  {}  {}", pad(a, w0), pad(b, w1), c).trim_end());
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}
