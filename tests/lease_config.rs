//! `[delivery] lease` and `batch`: how long a claim holds and how much one claim takes.

use std::path::Path;

use chrono::Duration;
use rustig::config::Config;

fn parse(extra: &str) -> Result<Config, String> {
    let text = format!("[store]\nurl = \"postgres://rustig@db/rustig\"\n{extra}");
    Config::parse(Path::new("t.toml"), &text).map_err(|e| e.to_string())
}

#[test]
fn lease_and_batch_default_to_five_minutes_and_1024_groups() {
    let c = parse("").unwrap();
    assert_eq!(c.store_url, "postgres://rustig@db/rustig");
    assert_eq!(
        (c.delivery.lease, c.delivery.batch),
        (Duration::minutes(5), 1024)
    );
}

#[test]
fn lease_and_batch_are_configurable() {
    let c = parse("[delivery]\nlease = \"30s\"\nbatch = 16\n").unwrap();
    assert_eq!(
        (c.delivery.lease, c.delivery.batch),
        (Duration::seconds(30), 16)
    );
}

#[test]
fn a_lease_under_a_second_is_an_error_that_names_the_key() {
    let e = parse("[delivery]\nlease = \"200ms\"\n").unwrap_err();
    assert!(e.contains("delivery.lease"), "{e}");
    assert!(e.contains("t.toml:4:"), "located at the key: {e}");
}

#[test]
fn only_sqlite_and_postgres_urls_are_stores() {
    let e = Config::parse(Path::new("t.toml"), "[store]\nurl = \"postgresish://x\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("store.url"), "{e}");
    let c = Config::parse(Path::new("t.toml"), "[store]\nurl = \"postgresql://x/y\"\n").unwrap();
    assert_eq!(c.store_url, "postgresql://x/y");
}
