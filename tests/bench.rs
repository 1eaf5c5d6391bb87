//! `rustig bench` on a small workload (1 000 events), so that its code paths cannot rot:
//! every event is acknowledged on both ingest paths, every notice is released exactly once
//! to each sink, the sinks received one line or message per message, and the daemon phase
//! saw the backlog and the probe. No timing is asserted: the figures are for BENCHMARKS.md.

use rustig_bench::{self as bench, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_paths_add_up_on_a_small_workload() {
    let work = tempfile::tempdir().unwrap();
    let mut opts = Options::with_events(1000);
    opts.students = Some(150);
    opts.batch = 250;
    opts.lead_secs = 1;
    opts.hold_secs = 0;
    opts.work_dir = Some(work.path().join("bench"));
    opts.keep = true;
    opts.daemon_bin = Some(env!("CARGO_BIN_EXE_rustig").into());
    opts.admin_requests = 20;
    let report = bench::run(&opts, &|_| {}).await.expect("bench runs");

    assert_eq!(report.events, 1000);
    assert_eq!(report.students, 150);
    assert!(report.guardians >= 150 && report.guardians <= 300);
    for path in ["in-process", "http"] {
        let i = report.ingest(path).unwrap();
        assert_eq!(
            (i.events, i.accepted, i.duplicates, i.rejected),
            (1000, 1000, 0, 0),
            "{path}"
        );
        assert!(i.events_per_s > 0.0);
    }
    assert_eq!(report.ingest("http").unwrap().batch, 250);
    assert_eq!(report.ingest("http").unwrap().server, "daemon");
    // Every grade plans a notice for the student and each guardian, every absence one per
    // guardian: between one and three notices per event.
    let pending = report.backlog.pending_notices;
    assert_eq!(report.backlog.events, 1000);
    assert!(
        (1000..=3000).contains(&pending),
        "{pending} notices planned"
    );
    assert!(report.backlog.store_bytes.unwrap() > 0);

    let d = report.daemon.as_ref().expect("the daemon phase ran");
    assert!(d.healthz_s > 0.0 && d.first_message_s > 0.0);
    assert_eq!(d.ready_s, d.healthz_s.max(d.first_message_s));
    assert!(d.vm_hwm_kb > 0 && d.vm_hwm_kb >= d.vm_rss_kb);
    assert!(d.clean_exit, "the daemon stopped cleanly on SIGTERM");
    // The status view answered every request with the backlog pending (`/metrics` too once
    // the daemon serves it; the report notes it otherwise).
    let status = d.admin.iter().find(|a| a.route == "/v1/status").unwrap();
    assert_eq!(status.requests, 20);
    assert!(
        status.p50_ms > 0.0 && status.p50_ms <= status.p99_ms && status.p99_ms <= status.max_ms
    );
    assert!(status.bytes > 0);
    assert!(
        d.admin.iter().any(|a| a.route == "/metrics")
            || report.notes.iter().any(|n| n.contains("/metrics")),
        "{:?}",
        report.notes
    );
    let outbox: Vec<_> = std::fs::read_dir(work.path().join("bench/outbox"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(
        outbox.len(),
        1,
        "the daemon sent the probe, and nothing of the backlog"
    );

    let sinks: Vec<_> = report.release.iter().map(|r| r.sink).collect();
    assert_eq!(sinks, ["null", "smtp"]);
    for r in &report.release {
        assert_eq!(r.pending_before, pending, "{}", r.sink);
        assert_eq!(
            r.notices, pending as u64,
            "{}: every notice exactly once",
            r.sink
        );
        assert_eq!(r.sink_received, r.messages, "{}", r.sink);
        assert!(r.messages > 0 && r.messages <= r.notices);
        // Messages group per recipient: at most one per student and guardian.
        assert!(r.messages as usize <= report.students + report.guardians);
        assert_eq!(
            (r.after.pending, r.after.claimed, r.after.dead),
            (0, 0, 0),
            "{}",
            r.sink
        );
        assert!(r.lateness_p50_ms >= 0.0 && r.lateness_p50_ms <= r.lateness_p99_ms);
        assert!(r.lateness_p99_ms <= r.lateness_max_ms);
    }
    // Store A also holds the probe the daemon sent.
    assert_eq!(report.release("null").unwrap().after.sent, pending + 1);
    assert_eq!(report.release("smtp").unwrap().after.sent, pending);
    let lines = std::fs::read_to_string(work.path().join("bench/null-sink.txt")).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        report.release("null").unwrap().messages
    );

    let table = report.table();
    assert!(table.contains("events/s") && table.contains("notices/s") && table.contains("VmHWM"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["release"][0]["sink"], "null");
    assert_eq!(json["backlog"]["pending_notices"], pending);
}

#[test]
fn workload_is_due_at_one_monday_morning_and_deterministic() {
    let now = chrono::Utc::now();
    let a = bench::workload::generate(2500, 100, 1000, now);
    let b = bench::workload::generate(2500, 100, 1000, now);
    assert_eq!(a.batches, b.batches);
    assert_eq!(a.batches.len(), 3);
    let lens: Vec<_> = a
        .batches
        .iter()
        .map(|x| bench::workload::Workload::lines(x).len())
        .collect();
    assert_eq!(lens, [1000, 1000, 500]);
    assert!(a.due >= now + chrono::Duration::days(3));
    let local = a.due.with_timezone(&bench::workload::ZONE);
    assert_eq!(local.format("%a %H:%M").to_string(), "Mon 07:00");
    // Entered in the past (ingest refuses events from the future), held until `due`.
    for line in bench::workload::Workload::lines(&a.batches[0]) {
        let e = rustig::model::Event::parse(line).unwrap();
        let at = e.occurred_utc();
        assert!(at < now && at >= now - chrono::Duration::hours(61), "{at}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_daemon_http_ingest_runs_in_process() {
    let mut opts = Options::with_events(300);
    opts.students = Some(40);
    opts.batch = 100;
    opts.lead_secs = 1;
    opts.no_daemon = true;
    opts.no_smtp = true;
    let report = bench::run(&opts, &|_| {}).await.expect("bench runs");
    let http = report.ingest("http").unwrap();
    assert_eq!(http.server, "in-process server");
    assert_eq!((http.accepted, http.rejected), (300, 0));
    assert!(report.daemon.is_none());
    assert_eq!(report.release.len(), 1);
    let null = report.release("null").unwrap();
    assert_eq!(null.notices, report.backlog.pending_notices as u64);
    assert_eq!(null.after.sent, report.backlog.pending_notices);
    assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
}
