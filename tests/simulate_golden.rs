//! `rustig simulate` pinned byte for byte: the example week and a scripted month (12 October
//! to 13 November 2026: the DST change, corrections, withdrawals, every absence kind, report
//! grades, push and webhook contacts, a guardian's own digest), each with and without
//! `--explain`. Its output is a contract (DESIGN.md), and refactors must not move a byte.
//!
//! The month's input is made by `tests/fixtures/simulate/month.py`. When a change of
//! behaviour is intended, re-pin the expected files with the command that
//! `golden_command` prints for each case, and say why in the commit.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const WEEK: [&str; 6] = [
    "--config",
    "config/rustig.toml",
    "--directory",
    "config/directory.example.json",
    "--events",
    "config/events.example.ndjson",
];

const MONTH: [&str; 6] = [
    "--config",
    "config/rustig.toml",
    "--directory",
    "tests/fixtures/simulate/month-directory.json",
    "--events",
    "tests/fixtures/simulate/month-events.ndjson",
];

fn golden_command(args: &[&str], expected: &str) -> String {
    format!(
        "RUSTIG_LOG=error cargo run -q -- simulate {} > {expected}",
        args.join(" ")
    )
}

fn check(args: &[&str], expected: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .arg("simulate")
        .args(args)
        .current_dir(repo())
        .env("RUSTIG_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no input problems expected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(repo().join(expected)).unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    if got != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let first = (0..g.len().max(w.len()))
            .find(|&i| g.get(i) != w.get(i))
            .unwrap_or(0);
        panic!(
            "simulate output differs from {expected} ({} lines, expected {}); first at line {}:\n  got:      {}\n  expected: {}\nre-pin (only for an intended change): {}",
            g.len(),
            w.len(),
            first + 1,
            g.get(first).unwrap_or(&"<none>"),
            w.get(first).unwrap_or(&"<none>"),
            golden_command(args, expected)
        );
    }
    assert!(!want.is_empty(), "{expected} pins something");
}

fn with<'a>(args: [&'a str; 6], extra: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.push(extra);
    v
}

#[test]
fn example_week_is_byte_identical() {
    check(&WEEK, "tests/fixtures/simulate/week.ndjson");
}

#[test]
fn example_week_explained_is_byte_identical() {
    check(
        &with(WEEK, "--explain"),
        "tests/fixtures/simulate/week-explain.ndjson",
    );
}

#[test]
fn scripted_month_is_byte_identical() {
    check(&MONTH, "tests/fixtures/simulate/month.ndjson");
}

#[test]
fn scripted_month_explained_is_byte_identical() {
    check(
        &with(MONTH, "--explain"),
        "tests/fixtures/simulate/month-explain.ndjson",
    );
}
