//! `rustig check` reports every error of the file and of the directory, not only the first
//! (issue 13, "no silent failures"): parse errors and value checks together, each with file,
//! line and key; no key path with `?` and no whole array quoted; a school that inherits a bad
//! global value is not reported again.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Each row: a line of the file, and what its error says (line numbers follow the rows).
const ROWS: &[(&str, &str)] = &[
    (
        "timezone = \"Mars/Olympus\"",
        "timezone = \"Mars/Olympus\": expected an IANA time zone",
    ),
    ("[store]", ""),
    (
        "url = \"mysql://x\"",
        "store.url: expected \"sqlite://path\"",
    ),
    ("[delivery]", ""),
    ("foo = 1", "delivery.foo: unknown key `foo`"),
    (
        "max_age = \"0s\"",
        "delivery.max_age = \"0s\": must be at least \"1m\"",
    ),
    (
        "lease = \"forever\"",
        "delivery.lease = \"forever\": expected a duration",
    ),
    ("[quiet_hours]", ""),
    ("start = \"07:00\"", ""),
    ("end = \"07:00\"", "quiet_hours.end: equals start (07:00)"),
    ("[absences]", ""),
    (
        "guardians = { unauthorized = \"sometimes\" }",
        "absences.guardians.unauthorized = \"sometimes\": unknown variant `sometimes`",
    ),
    ("[holidays]", ""),
    (
        "dates = [\"2026-12-19..2027-01-03\", \"bad\"]",
        "holidays.dates[1] = \"bad\": expected a date",
    ),
    ("[[ingest.nats]]", ""),
    ("url = \"nats://127.0.0.1:4222\"", ""),
    ("stream = \"s\"", ""),
    (
        "subject = 1",
        "ingest.nats[0].subject = 1: invalid type: integer `1`, expected a string",
    ),
    ("[schools.a]", ""),
    ("name = \"A\"", ""),
    ("[schools.b]", ""),
    ("name = \"B\"", ""),
    ("[schools.b.grades]", ""),
    (
        "guardian_delay = \"-1h\"",
        "schools.b.grades.guardian_delay = \"-1h\": expected a duration",
    ),
];

#[test]
fn every_error_of_the_file_is_reported_once_with_its_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rustig.toml");
    let text: String = ROWS.iter().map(|(l, _)| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    let expected: Vec<(usize, &str)> = ROWS
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| !e.is_empty())
        .map(|(i, (_, e))| (i + 1, *e))
        .collect();
    for (line, what) in &expected {
        let hits: Vec<&&str> = lines.iter().filter(|l| l.contains(what)).collect();
        assert_eq!(hits.len(), 1, "{what:?} once in:\n{err}");
        let prefix = format!("{}:{line}:", path.display());
        assert!(hits[0].starts_with(&prefix), "{} at line {line}", hits[0]);
    }
    // Nothing else: the schools inherit the bad quiet hours without being named for them.
    assert_eq!(lines.len(), expected.len(), "{err}");
    assert!(!err.contains("schools.a"), "{err}");
    for l in &lines {
        let key = l.splitn(4, ':').nth(3).unwrap_or_default();
        assert!(!key.contains('?'), "{l}");
        assert!(!key.contains("= ["), "a whole array quoted: {l}");
    }
}

#[test]
fn every_problem_of_the_directory_is_reported_with_its_path_in_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("config/directory.example.json")).unwrap();
    let mut d: serde_json::Value = serde_json::from_str(&text).unwrap();
    // A wrong shape in the first student (serde), a wrong contact kind in the third, and
    // values the checks refuse in the second and third.
    d["students"][0]["birth_date"] = "2011-13-45".into();
    d["students"][1]["contacts"][0]["email"] = "not an address".into();
    d["students"][2]["guardians"][0]["contacts"][0] = serde_json::json!({"sms": "0612345678"});
    d["students"][2]["guardians"][0]["name"] = "".into();
    let dir = tmp.path().join("directory.json");
    std::fs::write(&dir, d.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(["check", "--config", "config/rustig.toml", "--directory"])
        .arg(&dir)
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    for path in [
        "students[0].birth_date:",
        "students[1].contacts[0].email:",
        "students[2].guardians[0].contacts[0]: unknown variant `sms`",
        "students[2].guardians[0].name:",
    ] {
        assert_eq!(err.matches(path).count(), 1, "{path} once in:\n{err}");
    }
    assert_eq!(err.lines().count(), 4, "{err}");
}
