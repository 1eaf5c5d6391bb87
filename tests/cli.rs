//! The command line as operators and other tools use it: `simulate` (its output is a
//! contract), `check`, `explain` and `import-directory`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rustig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rustig"))
        .args(args)
        .current_dir(repo())
        .env("RUSTIG_LOG", "error")
        .output()
        .unwrap()
}

fn simulate(extra: &[&str]) -> (Vec<Value>, String) {
    let mut args = vec![
        "simulate",
        "--config",
        "config/rustig.toml",
        "--directory",
        "config/directory.example.json",
        "--events",
        "config/events.example.ndjson",
    ];
    args.extend_from_slice(extra);
    let out = rustig(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, stdout)
}

const CONTRACT_KEYS: [&str; 11] = [
    "at",
    "school",
    "recipient",
    "role",
    "student",
    "channel",
    "events",
    "records",
    "subject",
    "title",
    "body",
];

#[test]
fn simulate_prints_the_contract_lines_in_order() {
    let (lines, _) = simulate(&[]);
    assert!(!lines.is_empty());
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, CONTRACT_KEYS.to_vec(), "{l}");
        assert!(["student", "guardian"].contains(&l["role"].as_str().unwrap()));
        // Email: subject and text; no push title.
        assert_eq!(l["channel"], "email");
        assert!(l["subject"].is_string() && l["title"].is_null() && l["body"].is_string());
    }
    let at: Vec<chrono::DateTime<chrono::FixedOffset>> = lines
        .iter()
        .map(|l| chrono::DateTime::parse_from_rfc3339(l["at"].as_str().unwrap()).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "ordered by at");

    let find = |recipient: &str, event: &str| {
        lines
            .iter()
            .filter(|l| {
                l["recipient"] == recipient
                    && l["events"].as_array().unwrap().iter().any(|e| e == event)
            })
            .collect::<Vec<_>>()
    };
    // Merel's Friday-night grade: to her after the class discussion on Monday 11:05 ...
    let merel = find("s-1001", "evt-1");
    assert_eq!(merel.len(), 1);
    assert_eq!(merel[0]["at"], "2026-11-23T11:05:00+01:00");
    assert_eq!(merel[0]["records"], serde_json::json!(["r-1"]));
    // ... to her mother a day later in the 17:00 digest, bundled with Tuesday's late arrival.
    let anna = find("g-2001", "evt-1");
    assert_eq!(anna.len(), 1);
    assert_eq!(anna[0]["at"], "2026-11-24T17:00:00+01:00");
    assert_eq!(anna[0]["events"], serde_json::json!(["evt-1", "evt-5"]));
    assert_eq!(anna[0]["student"], "s-1001");
    // Peter reads English.
    let peter = find("g-2002", "evt-1");
    assert!(
        peter[0]["subject"].as_str().unwrap().contains("Merel"),
        "{}",
        peter[0]
    );
    // The absence corrected to "sick" within the settle window reaches nobody.
    assert!(lines
        .iter()
        .all(|l| l["records"] != serde_json::json!(["abs-1"])));
    // Sanne is 18 and did not grant access: her guardian hears nothing.
    assert!(lines.iter().all(|l| l["recipient"] != "g-2003"));
    // The corrected grade (evt-9) reaches those who saw 5,4, as a correction.
    let corr = find("s-1001", "evt-9");
    assert_eq!(corr.len(), 1);
    assert!(corr[0]["body"].as_str().unwrap().contains("5,8"));
}

#[test]
fn simulate_is_deterministic_and_stops_at_until() {
    let (_, a) = simulate(&[]);
    let (_, b) = simulate(&[]);
    assert_eq!(a, b);
    let (lines, _) = simulate(&["--until", "2026-11-24T12:00:00+01:00"]);
    assert_eq!(
        lines.len(),
        1,
        "only Merel's message is out by Tuesday noon"
    );
}

#[test]
fn simulate_explain_adds_suppressed_lines() {
    let (lines, _) = simulate(&["--explain"]);
    let suppressed: Vec<&Value> = lines.iter().filter(|l| l["type"] == "suppressed").collect();
    assert!(suppressed
        .iter()
        .any(|l| l["recipient"] == "g-2003" && l["rule"] == "consent"));
    assert!(
        suppressed
            .iter()
            .any(|l| l["records"] == serde_json::json!(["abs-1"])
                && l["rule"] == "absences.guardians")
    );
    let messages = lines.iter().filter(|l| l.get("type").is_none()).count();
    assert_eq!(messages, simulate(&[]).0.len());
}

#[test]
fn simulate_reports_bad_input_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("e.ndjson");
    let good = std::fs::read_to_string(repo().join("config/event.example.json")).unwrap();
    std::fs::write(
        &events,
        format!(
            "{}\n{{\"id\":\"x\",\"type\":\"grade.entered\"}}\n",
            good.trim()
        ),
    )
    .unwrap();
    let out = rustig(&[
        "simulate",
        "--config",
        "config/rustig.toml",
        "--directory",
        "config/directory.example.json",
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: "), "{err}");
    assert!(err.contains("missing field"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn check_prints_ok_and_a_summary_or_located_errors() {
    let out = rustig(&["check", "--config", "config/rustig.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ok\n"), "{text}");
    assert!(text.contains("Coornhert Lyceum (coornhert)"), "{text}");
    assert!(text.contains("quiet hours 20:00–07:00"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let bad = write(
        tmp.path(),
        "bad.toml",
        "timezone = \"Europe/Amsterdam\"\n\n[quiet_hours]\nstart = \"25:00\"\n",
    );
    let out = rustig(&["check", "--config", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "bad.toml:4:9: quiet_hours.start = \"25:00\": expected a time of day like \"20:00\""
        ),
        "{err}"
    );
    let never = write(
        tmp.path(),
        "never.toml",
        "[quiet_hours]\nstart = \"00:00\"\nend = \"00:00\"\n",
    );
    let out = rustig(&["check", "--config", &never]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing could ever be delivered"));
}

/// `explain --event` of the example event with `config`: the line of guardian g-2001.
fn explain_guardian(config: &str) -> String {
    let out = rustig(&[
        "explain",
        "--config",
        config,
        "--event",
        "config/event.example.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("guardian g-2001 email"))
        .unwrap()
        .to_string()
}

#[test]
fn explain_says_when_and_why() {
    // The example config waits for the next lesson of the subject (from the timetable).
    let guardian = explain_guardian("config/rustig.toml");
    assert!(guardian.contains("entered Fri 20 Nov 21:14"), "{guardian}");
    assert!(
        guardian.contains("end of the next wiskunde lesson of 3c → Mon 23 Nov 11:05"),
        "{guardian}"
    );
    assert!(guardian.contains("guardian delay"), "{guardian}");
    assert!(guardian.contains("digest slot"), "{guardian}");
    // With classroom_first = "release" (the built-in default) it waits for the release.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(repo().join("config/rustig.toml"))
        .unwrap()
        .replace(
            "classroom_first = \"next_lesson\"",
            "classroom_first = \"release\"",
        )
        .replace(
            "file = \"config/directory.example.json\"",
            &format!(
                "file = \"{}\"",
                repo().join("config/directory.example.json").display()
            ),
        );
    let cfg = write(tmp.path(), "c.toml", &cfg);
    let guardian = explain_guardian(&cfg);
    assert!(guardian.contains("entered Fri 20 Nov 21:14"), "{guardian}");
    assert!(
        guardian.contains("waits for release of \"Toets H3\" in 3c"),
        "{guardian}"
    );
    assert!(guardian.contains("guardian delay"), "{guardian}");
    assert!(guardian.contains("digest slot"), "{guardian}");
}

#[test]
fn import_directory_stores_it_for_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "c.toml",
        &format!(
            "[store]\nurl = \"sqlite://{}/r.db\"\n",
            tmp.path().display()
        ),
    );
    let out = rustig(&[
        "import-directory",
        "--config",
        &cfg,
        "config/directory.example.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 students"));
    let bad = write(tmp.path(), "d.json", "{\"students\":[{\"id\":1}]}");
    let out = rustig(&["import-directory", "--config", &cfg, &bad]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("students[0].id"));
    // Both operator actions are in the audit trail; the refused import is not.
    let out = rustig(&["resend", "--config", &cfg, "--dead"]);
    assert!(out.status.success());
    let out = rustig(&["audit", "--config", &cfg]);
    assert!(out.status.success());
    let trail: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["directory.import", "notices.resend"]);
    assert_eq!(trail[0]["after"]["students"], 3);
    assert!(trail[1]["actor"].as_str().unwrap().starts_with("cli:"));
    assert_eq!(trail[1]["target"], "dead:all");
    let out = rustig(&["audit", "--config", &cfg, "--action", "notices."]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn check_names_a_broken_operator_template_and_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir(&tpl).unwrap();
    std::fs::write(
        tpl.join("grade.en.text.j2"),
        "{% block subject %}Grade{% endblock %}\n{% block text %}Hello {{ recipient.nickname }}{% endblock %}\n\
         {% block title %}t{% endblock %}{% block body %}b{% endblock %}\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(repo().join("config/rustig.toml"))
        .unwrap()
        .replace(
            "# dir = \"/etc/rustig/templates\"",
            &format!("dir = \"{}\"", tpl.display()),
        );
    let cfg = write(tmp.path(), "c.toml", &cfg);
    let out = rustig(&["check", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("grade.en.text.j2") && err.contains("line 2"),
        "{err}"
    );
    assert!(err.contains("nickname"), "{err}");
}

/// Part of issue 11: the directory is checked like the config, every problem at once, by
/// `check --directory` and by `import-directory` (which then stores nothing).
#[test]
fn check_and_import_report_every_bad_contact_with_its_json_path() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("config/directory.example.json")).unwrap(),
    )
    .unwrap();
    dir["students"][0]["contacts"][0]["email"] = "merel de jong <merel@@leerling.example".into();
    dir["students"][0]["guardians"][0]["contacts"][0]["email"] = "anna@example.nl\nBcc: x@y".into();
    dir["students"][1]["guardians"][0]["contacts"] =
        serde_json::json!([{"ntfy": "http://ntfy.example/t"}, {"webhook": "ftp://x.example/"}]);
    let bad = write(tmp.path(), "bad.json", &dir.to_string());
    let want = [
        "bad.json: students[0].contacts[0].email: expected a bare address",
        "bad.json: students[0].guardians[0].contacts[0].email: must not contain control characters",
        "bad.json: students[1].guardians[0].contacts[0].ntfy: expected https://",
        "bad.json: students[1].guardians[0].contacts[1].webhook: expected an https:// URL",
    ];
    let out = rustig(&[
        "check",
        "--config",
        "config/rustig.toml",
        "--directory",
        &bad,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), want.len(), "{err}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.contains(want), "{line}\nwanted: {want}");
        assert!(!line.contains("Bcc"), "the address is not echoed: {line}");
    }

    let cfg = write(
        tmp.path(),
        "c.toml",
        &format!(
            "[store]\nurl = \"sqlite://{}/r.db\"\n",
            tmp.path().display()
        ),
    );
    let out = rustig(&["import-directory", "--config", &cfg, &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("bad.json: students[").count(), 4, "{err}");
}

#[test]
fn erase_removes_a_students_data_and_writes_an_audit_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "c.toml",
        &format!(
            "[store]\nurl = \"sqlite://{}/r.db\"\n",
            tmp.path().display()
        ),
    );
    let out = rustig(&[
        "import-directory",
        "--config",
        &cfg,
        "config/directory.example.json",
    ]);
    assert!(out.status.success());
    let out = rustig(&["erase", "--config", &cfg, "--student", "s-1001"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("erased student s-1001: 0 event(s), 0 notice(s)"),
        "{text}"
    );
    // Still in the directory: the operator is told to remove them at the source.
    assert!(
        text.contains("the directory still lists this student"),
        "{text}"
    );
    let out = rustig(&["audit", "--config", &cfg, "--action", "student.erase"]);
    let trail: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0]["target"], "student:s-1001");
    assert_eq!(trail[0]["after"]["events"], 0);
    assert!(trail[0]["actor"].as_str().unwrap().starts_with("cli:"));
    let out = rustig(&["erase", "--config", &cfg, "--student", " "]);
    assert!(!out.status.success());
}
