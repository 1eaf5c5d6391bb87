//! The SIS snapshot store on SQLite and PostgreSQL, and the commit order of a poll: a crash
//! after the events were committed and before the snapshot was (also halfway through the
//! events) only repeats ids that ingest drops, so nothing is lost and nothing doubled.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rustig::clock::ManualClock;
use rustig::config::Config;
use rustig::ingest::{Ingestor, Shared};
use rustig::model::event::{Grade, GradeKind, NonEmpty, Scalar};
use rustig::model::Directory;
use rustig::source::health::SourceHealth;
use rustig::source::poll::commit::Committer;
use rustig::source::poll::diff::Verdict;
use rustig::source::poll::{Fetched, Item, ItemBody};
use rustig::store::snapshot::{SnapRow, SnapshotChange};
use rustig::store::Store;

fn row(key: &str, digest: Option<&str>, version: i64) -> SnapRow {
    SnapRow {
        key: key.into(),
        digest: digest.map(str::to_string),
        version,
        kind: "grade".into(),
        record: format!("r/{key}"),
        student: "s-1".into(),
        part: (version % 2 == 0).then(|| "2026-11-23".to_string()),
    }
}

async fn contract(store: Arc<dyn Store>) {
    let snaps = store.snapshots();
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    assert_eq!(snaps.load_snapshot("som", "u-1").await.unwrap(), None);
    // Enough rows for several statements on either store.
    let rows: Vec<SnapRow> = (0..6000)
        .map(|i| row(&format!("k{i}"), Some("d0"), i % 3))
        .collect();
    let change = SnapshotChange {
        upsert: rows.clone(),
        delete: vec![],
        cursor: Some("file-1".into()),
    };
    snaps.save_snapshot("som", "u-1", &change, t).await.unwrap();
    let s = snaps.load_snapshot("som", "u-1").await.unwrap().unwrap();
    assert_eq!(s.rows.len(), 6000);
    assert_eq!(s.rows["k7"], rows[7]);
    assert_eq!(s.cursor.as_deref(), Some("file-1"));
    // A tombstone, a change, a deletion; no cursor keeps the old one.
    let change = SnapshotChange {
        upsert: vec![
            row("k1", None, 2),
            row("k2", Some("d1"), 5),
            row("new", Some("d"), 1),
        ],
        delete: vec!["k3".into(), "k4".into()],
        cursor: None,
    };
    snaps.save_snapshot("som", "u-1", &change, t).await.unwrap();
    let s = snaps.load_snapshot("som", "u-1").await.unwrap().unwrap();
    assert_eq!(s.rows.len(), 5999);
    assert_eq!(s.rows["k1"].digest, None);
    assert_eq!(s.rows["k1"].version, 2);
    assert_eq!(s.rows["k2"], row("k2", Some("d1"), 5));
    assert!(!s.rows.contains_key("k3") && s.rows.contains_key("new"));
    assert_eq!(s.cursor.as_deref(), Some("file-1"));
    // An empty scope that was polled is not "never polled".
    snaps
        .save_snapshot("som", "u-2", &SnapshotChange::default(), t)
        .await
        .unwrap();
    let empty = snaps.load_snapshot("som", "u-2").await.unwrap().unwrap();
    assert!(empty.rows.is_empty());
    let mut scopes = snaps.snapshot_scopes("som").await.unwrap();
    scopes.sort();
    assert_eq!(scopes, ["u-1", "u-2"]);
    assert!(snaps.snapshot_scopes("other").await.unwrap().is_empty());
    snaps
        .drop_snapshot_scopes("som", &["u-1".into()])
        .await
        .unwrap();
    assert_eq!(snaps.load_snapshot("som", "u-1").await.unwrap(), None);
    assert_eq!(snaps.snapshot_scopes("som").await.unwrap(), ["u-2"]);

    crash_between_the_commits(store).await;
}

fn grade(key: &str, value: &str) -> Item {
    Item {
        key: key.into(),
        record: format!("u-1/{key}"),
        student: "u-1".into(),
        body: ItemBody::Grade(Grade {
            assessment: NonEmpty(key.into()),
            subject: NonEmpty("wiskunde".into()),
            class: NonEmpty("3c".into()),
            description: String::new(),
            value: Scalar(value.into()),
            numeric: None,
            weight: None,
            kind: GradeKind::Test,
        }),
        at: None,
        part: None,
    }
}

fn fetch(n: usize, value: &str) -> Fetched {
    Fetched {
        items: (0..n).map(|i| grade(&format!("r{i}"), value)).collect(),
        ..Fetched::default()
    }
}

async fn events(store: &Arc<dyn Store>) -> i64 {
    store.counts().await.unwrap().events
}

async fn crash_between_the_commits(store: Arc<dyn Store>) {
    let config = Config::parse(Path::new("t.toml"), "[schools.coornhert]\nname = \"C\"\n").unwrap();
    let shared = Shared::new(config, Directory::default());
    let ingestor = Arc::new(Ingestor::new(store.clone(), shared));
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    let c = Committer {
        source: "som".into(),
        school: "coornhert".into(),
        baseline: true,
        withdraw_limit: 1.0,
        ingestor,
        store: store.clone(),
        clock: clock.clone(),
        health: SourceHealth::new("som"),
    };
    // The baseline.
    c.commit("crash", fetch(2500, "6")).await.unwrap();
    let before = events(&store).await;
    clock.advance(chrono::Duration::minutes(15));
    // 2 500 grades changed. The rustig that saw it committed the first 1 000 events and died.
    let Verdict::Apply(d) = c.plan("crash", fetch(2500, "7")).await.unwrap() else {
        panic!()
    };
    assert_eq!(d.events.len(), 2500);
    let mut first = d.clone();
    first.events.truncate(1000);
    c.emit(&first).await.unwrap();
    assert_eq!(events(&store).await, before + 1000);
    // The next rustig polls again; the same ids for the first 1 000, new ones for the rest.
    clock.advance(chrono::Duration::minutes(15));
    let counts = c.commit("crash", fetch(2500, "7")).await.unwrap();
    assert_eq!(counts.changed, 2500);
    assert_eq!(events(&store).await, before + 2500, "every change once");
    // It died again between the events and the snapshot; the poll after it repeats itself.
    let Verdict::Apply(d) = c.plan("crash", fetch(2500, "8")).await.unwrap() else {
        panic!()
    };
    c.emit(&d).await.unwrap();
    let counts = c.commit("crash", fetch(2500, "8")).await.unwrap();
    assert_eq!(counts.changed, 2500, "the snapshot was behind");
    assert_eq!(events(&store).await, before + 5000, "no id twice");
    // And now everything is known.
    let counts = c.commit("crash", fetch(2500, "8")).await.unwrap();
    assert_eq!((counts.events(), counts.unchanged), (0, 2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_store_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rustig.db", tmp.path().display());
    contract(rustig::store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_store_on_postgres() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    contract(rustig::store::open(&pg.url).await.unwrap()).await;
}
