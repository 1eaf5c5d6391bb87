//! DKIM: keys made by `rustig dkim-keygen`, messages signed by the email channel, signatures
//! verified by dkimpy (PyPI), an implementation rustig did not write, against the DNS record
//! the key generator printed. A changed body fails verification.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustig::config::{DkimSettings, EmailConfig, EmailTransportConfig};
use rustig::model::{ChannelKind, Contact, Locale, Role};
use rustig::send::email::EmailChannel;
use rustig::send::{Channel, Outgoing, Rendered};

/// A Python with dkimpy (and PyNaCl for Ed25519): `RUSTIG_TEST_PYTHON_DKIM`, or a venv in
/// `target/` (made here when missing; `.ci/run` makes it first). `None` (skip) outside CI.
fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RUSTIG_TEST_PYTHON_DKIM") {
        return Some(p.into());
    }
    let ok = |py: &Path| {
        Command::new(py)
            .args(["-c", "import dkim, nacl"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rustig-dkim-pyenv");
    let py = venv.join("bin/python");
    if !(py.exists() && ok(&py)) {
        eprintln!("creating {} (dkimpy, pynacl)", venv.display());
        let _ = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        let _ = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "dkimpy>=1.1,<2", "pynacl>=1.5,<2"])
            .status();
    }
    if ok(&py) {
        return Some(py);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and no Python with dkimpy (see .ci/run)");
    }
    eprintln!("SKIPPED: no Python with dkimpy");
    None
}

fn outgoing(key: &str) -> Outgoing {
    Outgoing {
        key: key.to_string(),
        school: "coornhert".into(),
        recipient: "g-2001".into(),
        recipient_name: "Anna de Jong".into(),
        role: Role::Guardian,
        channel: ChannelKind::Email,
        contacts: vec![Contact::Email("anna@example.nl".into())],
        locale: Locale::Nl,
        content: Rendered {
            subject: "Nieuw cijfer voor Merel — wiskunde".into(),
            text: "Merel heeft een nieuw cijfer voor wiskunde.\n\nCoornhert Lyceum\n".into(),
            html: "<p>Merel heeft een nieuw cijfer voor <b>wiskunde</b>.</p>".into(),
            title: String::new(),
            body: String::new(),
        },
        notices: vec![],
        settings_url: None,
        unsubscribe_url: None,
    }
}

fn verify(python: &Path, record: &str, message: &[u8]) -> bool {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/dkim_verify.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(record)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(said == "ok" || said == "fail", "{said}");
    said == "ok"
}

#[tokio::test]
async fn signatures_verify_with_dkimpy_for_rsa_and_ed25519() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (kind, flag) in [("rsa", None), ("ed25519", Some("--ed25519"))] {
        let key_file = dir.path().join(format!("{kind}.pem"));
        let out = Command::new(env!("CARGO_BIN_EXE_rustig"))
            .args(["dkim-keygen", "--selector", "rustig2026", "--domain"])
            .arg("coornhert.example")
            .arg("--private-key-file")
            .arg(&key_file)
            .args(flag)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("rustig2026._domainkey.coornhert.example. IN TXT "))
            .unwrap_or_else(|| panic!("{stdout}"));
        let record = line.split('"').nth(1).unwrap();
        assert!(
            record.starts_with(&format!("v=DKIM1; k={kind}; p=")),
            "{record}"
        );

        let outbox = dir.path().join(format!("outbox-{kind}"));
        let channel = EmailChannel::new(&EmailConfig {
            transport: EmailTransportConfig::File {
                dir: outbox.clone(),
            },
            from: "Coornhert Lyceum <noreply@coornhert.example>".into(),
            timeout: Duration::from_secs(5),
            dkim: Some(DkimSettings {
                selector: "rustig2026".into(),
                domain: "coornhert.example".into(),
                private_key_file: key_file,
            }),
        })
        .await
        .unwrap();
        channel.send(&outgoing("k-dkim")).await.unwrap();
        let raw = std::fs::read(outbox.join("k-dkim.eml")).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        let algorithm = if kind == "rsa" {
            "rsa-sha256"
        } else {
            "ed25519-sha256"
        };
        assert!(
            text.contains("DKIM-Signature: ") && text.contains(&format!("a={algorithm}")),
            "{text}"
        );
        assert!(text.contains("d=coornhert.example") && text.contains("s=rustig2026"));
        assert!(verify(&python, record, &raw), "{kind}: {text}");
        // A changed body or a changed subject no longer verifies.
        let changed = text.replacen("Merel heeft", "Merel had", 1);
        assert!(!verify(&python, record, changed.as_bytes()), "{kind}");
        let changed = text.replacen("Subject: ", "Subject: Re: ", 1);
        assert!(!verify(&python, record, changed.as_bytes()), "{kind}");
    }
}
