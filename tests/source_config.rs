//! `[[ingest.nats]]` and `[[ingest.amqp]]`: defaults, and errors located by file, line,
//! column and key like everywhere else in the config.

use std::path::Path;
use std::time::Duration;

use rustig::config::{Config, ConfigErrors};

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("rustig.toml"), text)
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn broker_sources_parse_with_defaults() {
    let c = parse(
        r#"
[[ingest.nats]]
url = "nats://127.0.0.1:4222"
stream = "SIS"
subject = "sis.events.>"

[[ingest.nats]]
url = "tls://nats.example:4222"
stream = "BOARD"
subject = "board.>"
durable = "rustig-board"
credentials = "/etc/rustig/nats.creds"
max_ack_pending = 50
ack_wait = "2m"
batch = 50
create = true

[[ingest.amqp]]
url = "amqp://rustig:secret@127.0.0.1:5672/%2f"
queue = "sis-events"
"#,
    )
    .unwrap();
    assert!(c.http.is_none());
    assert_eq!(c.nats.len(), 2);
    let (a, b) = (&c.nats[0], &c.nats[1]);
    assert_eq!(
        (
            a.durable.as_str(),
            a.max_ack_pending,
            a.ack_wait,
            a.batch,
            a.create
        ),
        ("rustig", 1000, Duration::from_secs(30), 100, false)
    );
    assert_eq!(a.credentials, None);
    assert_eq!(
        (
            b.durable.as_str(),
            b.max_ack_pending,
            b.ack_wait,
            b.batch,
            b.create
        ),
        ("rustig-board", 50, Duration::from_secs(120), 50, true)
    );
    assert_eq!(
        b.credentials.as_deref(),
        Some(Path::new("/etc/rustig/nats.creds"))
    );
    assert_eq!(c.amqp.len(), 1);
    assert_eq!((c.amqp[0].prefetch, c.amqp[0].batch), (100, 100));
}

#[test]
fn the_http_source_and_broker_sources_live_side_by_side() {
    let c = parse(
        "[ingest.http]\nlisten = \"127.0.0.1:8425\"\n\n[[ingest.amqp]]\nurl = \"amqp://127.0.0.1\"\nqueue = \"q\"\nprefetch = 8\n",
    )
    .unwrap();
    assert!(c.http.is_some());
    assert_eq!((c.amqp[0].prefetch, c.amqp[0].batch), (8, 8));
}

#[test]
fn unknown_and_missing_keys_are_located() {
    let text = "[[ingest.nats]]\nurl = \"nats://127.0.0.1:4222\"\nstream = \"SIS\"\nsubject = \"sis.>\"\nack_wiat = \"5s\"\n";
    let e = errors(text);
    assert!(
        e[0].starts_with("rustig.toml:5:1: ingest.nats[0].ack_wiat: unknown key `ack_wiat`"),
        "{e:?}"
    );
    assert!(e[0].contains("`ack_wait`"), "{e:?}");

    let e = errors("[[ingest.amqp]]\nurl = \"amqp://127.0.0.1\"\n");
    assert!(e[0].contains("missing field `queue`"), "{e:?}");
}

#[test]
fn bad_values_are_located_in_the_right_table() {
    let text = r#"[[ingest.nats]]
url = "nats://127.0.0.1:4222"
stream = "SIS"
subject = "sis.>"

[[ingest.nats]]
url = "nats://127.0.0.1:4222"
stream = "sis.events"
subject = "sis events"
max_ack_pending = 10
batch = 20
ack_wait = "10ms"

[[ingest.amqp]]
url = "http://127.0.0.1:5672"
queue = "q"
prefetch = 5
batch = 6
"#;
    let e = errors(text);
    let find = |key: &str| {
        e.iter()
            .find(|m| m.contains(key))
            .unwrap_or_else(|| panic!("no error for {key}: {e:#?}"))
            .clone()
    };
    assert!(
        find("ingest.nats[1].stream").starts_with("rustig.toml:8:10: "),
        "{e:#?}"
    );
    assert!(
        find("ingest.nats[1].subject").starts_with("rustig.toml:9:11: "),
        "{e:#?}"
    );
    assert!(find("ingest.nats[1].batch").contains("between 1 and max_ack_pending (10)"));
    assert!(
        find("ingest.nats[1].batch").starts_with("rustig.toml:11:9: "),
        "{e:#?}"
    );
    assert!(find("ingest.nats[1].ack_wait").contains("at least"));
    assert!(
        find("ingest.amqp[0].url").starts_with("rustig.toml:15:7: "),
        "{e:#?}"
    );
    assert!(find("ingest.amqp[0].batch").contains("between 1 and prefetch (5)"));
    assert!(!e.iter().any(|m| m.contains("ingest.nats[0]")), "{e:#?}");
}

#[test]
fn the_example_config_documents_the_broker_sources() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/rustig.toml"))
        .unwrap();
    assert!(text.contains("# [[ingest.nats]]"));
    assert!(text.contains("# [[ingest.amqp]]"));
    // Uncommented, the documented tables are valid as written.
    let uncommented: String = text
        .lines()
        .map(|l| {
            for t in ["# [[ingest.nats]]", "# [[ingest.amqp]]"] {
                if l.starts_with(t) {
                    return l.trim_start_matches("# ").to_string();
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let uncommented = uncomment_tables(&uncommented);
    let c = Config::parse(Path::new("config/rustig.toml"), &uncommented).unwrap();
    assert_eq!((c.nats.len(), c.amqp.len()), (1, 1));
}

/// Uncomments the `key = value` lines right after each `[[ingest.*]]` header.
fn uncomment_tables(text: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with("[[ingest.") {
            inside = true;
            out.push(l.to_string());
            continue;
        }
        if inside {
            if let Some(rest) = l.strip_prefix("# ") {
                if rest.contains(" = ") && !rest.starts_with(' ') {
                    out.push(rest.to_string());
                    continue;
                }
            }
            if !l.starts_with('#') {
                inside = false;
            }
        }
        out.push(l.to_string());
    }
    out.join("\n")
}

#[test]
fn the_compose_config_and_the_readme_example_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let compose = std::fs::read_to_string(format!("{root}/deploy/rustig.compose.toml")).unwrap();
    let c = Config::parse(Path::new("deploy/rustig.compose.toml"), &compose).unwrap();
    assert!(c.store_url.starts_with("postgres://"));
    assert_eq!(c.nats.len(), 1);
    assert!(c.nats[0].create);

    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = readme
        .split("## Running with PostgreSQL and NATS")
        .nth(1)
        .expect("the README section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a TOML example in the section");
    let c = Config::parse(Path::new("README.md"), example).unwrap();
    assert_eq!((c.nats.len(), c.amqp.len()), (1, 1));
}
