//! The admin API's OpenAPI document against the real daemon: valid OpenAPI 3.1
//! (`openapi-spec-validator`), and every route fuzzed from it by schemathesis with the read
//! and the operate token: no 5xx, and every answer matches what the document says of it
//! (status, content type, body schema, headers), also for generated bad input. Both tools
//! come from PyPI, in the venv `.ci/run` makes (`target/rustig-openapi-pyenv`); with
//! `CI=true` the test fails without it. Bounded: `RUSTIG_SCHEMATHESIS_EXAMPLES` examples per
//! operation (default 25, derandomized, so a run is repeatable) and a time limit per run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{get_json, BaseConfig, Killed};

const READ: &str = "read-token-0123456789abcdef";
const OPERATE: &str = "operate-token-0123456789abcdef";
/// A run that takes longer than this fails (CI's time budget).
const RUN_LIMIT: Duration = Duration::from_secs(180);
const PACKAGES: [&str; 3] = [
    "openapi-spec-validator>=0.7,<0.8",
    "schemathesis>=3.39,<4",
    // schemathesis 3 breaks on later Hypothesis releases ('many' object has no attribute 'more').
    "hypothesis>=6.108,<6.131.15",
];

fn venv() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rustig-openapi-pyenv");
    let py = venv.join("bin/python");
    let ok = |py: &Path| {
        Command::new(py)
            .args(["-c", "import openapi_spec_validator, schemathesis"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !ok(&py) && !ci {
        eprintln!(
            "creating {} (openapi-spec-validator, schemathesis)",
            venv.display()
        );
        let _ = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        let _ = Command::new(venv.join("bin/pip"))
            .args(["install", "-q"])
            .args(PACKAGES)
            .status();
    }
    if ok(&py) {
        return Some(venv);
    }
    if ci {
        panic!(
            "CI=true and no {} with openapi-spec-validator and schemathesis (see .ci/run)",
            venv.display()
        );
    }
    eprintln!("\n!!!!! SKIPPED: no Python venv with openapi-spec-validator and schemathesis\n");
    None
}

struct Daemon {
    _child: Killed,
    admin: u16,
    http: u16,
    tmp: tempfile::TempDir,
}

async fn start() -> Daemon {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().display().to_string();
    std::fs::write(tmp.path().join("read.token"), format!("{READ}\n")).unwrap();
    std::fs::write(
        tmp.path().join("operate.token"),
        format!("fuzz {OPERATE}\n"),
    )
    .unwrap();
    let (http, admin) = (common::free_port(), common::free_port());
    let config = BaseConfig::new(tmp.path())
        .http(http)
        .extra(&format!(
            r#"[admin]
listen = "127.0.0.1:{admin}"
read_token_file = "{t}/read.token"
operate_token_file = "{t}/operate.token"
"#
        ))
        .write();
    let child = common::start_daemon(&config);
    let d = Daemon {
        _child: Killed(child),
        admin,
        http,
        tmp,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("http://127.0.0.1:{admin}/healthz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the admin API did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d
}

/// Runs `program args` in `dir`, killed after [`RUN_LIMIT`]; (success, stdout + stderr).
fn run(program: &Path, args: &[String], dir: &Path) -> (bool, String) {
    let out_file = dir.join("run.out");
    let out = std::fs::File::create(&out_file).unwrap();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&out_file).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\n(killed after {RUN_LIMIT:?})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_the_daemon_keeps_it_under_fuzzing() {
    let Some(venv) = venv() else { return };
    let d = start().await;
    // Something in every view: the week of the README's tour.
    let events = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/events.example.ndjson"
    ))
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/events", d.http))
        .header("content-type", "application/x-ndjson")
        .body(events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let spec = get_json(
        &format!("http://127.0.0.1:{}/v1/openapi.json", d.admin),
        READ,
    )
    .await;
    let spec_file = d.tmp.path().join("openapi.json");
    std::fs::write(&spec_file, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let operations: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();

    let (valid, out) = tokio::task::block_in_place(|| {
        run(
            &venv.join("bin/python"),
            &[
                "-c".into(),
                "import json, sys\n\
                 from openapi_spec_validator import validate\n\
                 validate(json.load(open(sys.argv[1])))\n\
                 print('valid')"
                    .into(),
                spec_file.display().to_string(),
            ],
            d.tmp.path(),
        )
    });
    assert!(
        valid && out.contains("valid"),
        "openapi-spec-validator:\n{out}"
    );

    let examples = std::env::var("RUSTIG_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    for token in [READ, OPERATE] {
        let args: Vec<String> = [
            "run",
            &spec_file.display().to_string(),
            "--experimental=openapi-3.1",
            "--base-url",
            &format!("http://127.0.0.1:{}", d.admin),
            "-H",
            &format!("Authorization: Bearer {token}"),
            // No 5xx; status, content type, headers and body as documented; bad input
            // refused; no answer without the token.
            "--checks",
            "all",
            "--hypothesis-max-examples",
            &examples,
            "--hypothesis-derandomize",
            "--request-timeout",
            "10000",
            "--no-color",
        ]
        .map(String::from)
        .to_vec();
        let (ok, out) = tokio::task::block_in_place(|| {
            run(&venv.join("bin/schemathesis"), &args, d.tmp.path())
        });
        let level = if token == READ { "read" } else { "operate" };
        assert!(ok, "schemathesis with the {level} token:\n{out}");
        assert!(
            out.contains(&format!("Collected API operations: {operations}")),
            "schemathesis ({level}) did not test every operation:\n{out}"
        );
        assert!(
            !out.contains("errored") && !out.contains("FAILED"),
            "schemathesis ({level}):\n{out}"
        );
    }
    // The daemon is still up and answering after all of it.
    assert!(reqwest::get(format!("http://127.0.0.1:{}/readyz", d.admin))
        .await
        .unwrap()
        .status()
        .is_success());
}
