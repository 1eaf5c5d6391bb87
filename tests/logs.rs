//! What the `rustig` binary says on stderr (issue 13, "no silent failures"): plain text for a
//! pipe, instants in the school's zone with offset, one line per accepted batch with counts,
//! a port in use said once with its key and file, a warning naming a key that a reload cannot
//! apply, and a closed pipe that ends `check` and `simulate` quietly.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{BaseConfig, Daemon};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_config(tmp: &Path, http: u16, extra: &str) -> PathBuf {
    BaseConfig::new(tmp).http(http).extra(extra).write()
}

/// `rustig run` with stderr into a file (not a terminal), at info.
fn run(config: &Path, stderr: &Path) -> Daemon {
    Daemon::logging_to(config, "info", stderr)
}

/// A daemon on a free port and the base config, its stderr in `TMP/stderr`, ready: its port,
/// stderr file and the daemon.
async fn started(tmp: &Path) -> (u16, PathBuf, Daemon) {
    let http = common::free_port();
    let config = write_config(tmp, http, "");
    let err = tmp.join("stderr");
    let child = run(&config, &err);
    common::wait_ready(http).await;
    (http, err, child)
}

/// Waits until the file holds `needle` (at most 20 s); returns its text.
async fn wait_for(file: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(child: Daemon) {
    child.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_gets_plain_lines_in_local_time_and_one_line_per_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (http, err, child) = started(tmp.path()).await;
    let body = [
        common::grade_line("evt-l1", "s-1001", "2026-11-20T21:14:00+01:00"),
        common::grade_line("evt-l2", "s-1002", "2026-11-20T21:15:00+01:00"),
    ]
    .join("\n");
    let client = reqwest::Client::new();
    assert_eq!(common::post_events(&client, http, body).await, Some(202));
    let text = wait_for(&err, "batch accepted").await;
    stop(child);
    assert!(!text.contains('\u{1b}'), "colour codes in a pipe:\n{text}");
    for line in text.lines().filter(|l| l.contains(" INFO ")) {
        // 2026-12-04T22:39:11.229+01:00 (or +02:00 in summer): local, with the offset.
        let stamp = line.split_whitespace().next().unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(stamp)
            .unwrap_or_else(|e| panic!("{stamp:?}: {e}"));
        assert!(
            [3600, 7200].contains(&t.offset().local_minus_utc()),
            "{line}"
        );
    }
    let start = text
        .lines()
        .find(|l| l.contains("rustig starting"))
        .unwrap();
    assert!(!start.contains("Some("), "{start}");
    let batches: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("batch accepted"))
        .collect();
    assert_eq!(batches.len(), 1, "{text}");
    assert!(
        batches[0].contains("events=2") && batches[0].contains("new=2"),
        "{}",
        batches[0]
    );
    // Counts only: no ids, no students.
    assert!(!batches[0].contains("evt-l1") && !batches[0].contains("s-1001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_said_once_with_its_key_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write_config(tmp.path(), port, "");
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("in use").count(), 1, "{err}");
    assert!(err.contains("ingest.http.listen"), "{err}");
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_names_the_keys_that_wait_for_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (http, err, child) = started(tmp.path()).await;
    // Another port and lease: read only at start. The rules (quiet hours) apply at once.
    write_config(
        tmp.path(),
        common::free_port(),
        "[delivery]\nlease = \"10m\"\n[quiet_hours]\nstart = \"21:00\"\nend = \"07:00\"\n",
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    let text = wait_for(&err, "config reloaded").await;
    // The old listener still serves.
    common::wait_ready(http).await;
    stop(child);
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("next restart"))
        .collect();
    assert!(
        warned.iter().any(|l| l.contains("ingest.http.listen")),
        "{text}"
    );
    assert!(
        warned.iter().any(|l| l.contains("delivery.lease")),
        "{text}"
    );
    assert!(!warned.iter().any(|l| l.contains("quiet_hours")), "{text}");
}

/// Reads one line of `args`' stdout and closes the pipe: the process ends quietly.
fn first_line_then_close(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The reader is gone (as after `| head -1`).
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{args:?}: {:?} {err}",
        out.status
    );
}

#[test]
fn check_and_simulate_into_a_closed_pipe_end_quietly() {
    first_line_then_close(&["check", "--config", "config/rustig.toml"]);
    // Hundreds of lines: the pipe is closed long before the last.
    first_line_then_close(&[
        "simulate",
        "--config",
        "config/rustig.toml",
        "--directory",
        "tests/fixtures/simulate/month-directory.json",
        "--events",
        "tests/fixtures/simulate/month-events.ndjson",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_the_directory_does_not_list_is_said_once_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (http, err, child) = started(tmp.path()).await;
    let client = reqwest::Client::new();
    for batch in [["evt-u1", "evt-u2"], ["evt-u3", "evt-u4"]] {
        let body = batch
            .iter()
            .map(|id| common::grade_line(id, "s-9999", "2026-11-20T21:14:00+01:00"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(common::post_events(&client, http, body).await, Some(202));
    }
    let text = wait_for(&err, "batch accepted").await;
    // Both batches are in before the daemon stops.
    for _ in 0..100 {
        if std::fs::read_to_string(&err)
            .unwrap()
            .matches("batch accepted")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(child);
    let text = std::fs::read_to_string(&err).unwrap_or(text);
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("unresolved"))
        .collect();
    assert_eq!(warned.len(), 1, "{text}");
    assert!(warned[0].contains("student=s-9999"), "{}", warned[0]);
}
