//! The release's large SQLite statements write no temporary files (issue 18).
//!
//! SQLite copies every page a statement changes inside a transaction into a statement journal,
//! a temporary file once it passes 64 KiB, unless the statement cannot fail halfway. The merge
//! that readies a release changes most pages of the notices and their indexes, so it is written
//! to need none (BENCHMARKS.md, issue 18, fourteenth round).
//!
//! A test binary of its own: SQLite reads `SQLITE_TMPDIR` once, when it first starts in the
//! process, and any other test's temporary files would land in the watched folder.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use chrono::{DateTime, Utc};

/// Files created in a folder, counted with inotify (SQLite unlinks a temporary file as soon as
/// it has opened it, so listing the folder afterwards finds nothing).
struct Creations {
    fd: i32,
}

impl Creations {
    fn watch(dir: &std::path::Path) -> Creations {
        let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain system calls on a path we own; the descriptor is closed in `drop`.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0, "inotify_init1");
            assert!(libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_CREATE) >= 0);
            Creations { fd }
        }
    }

    /// Files created since the last call.
    fn take(&self) -> usize {
        let mut buf = [0u8; 4096];
        let mut created = 0;
        loop {
            // SAFETY: reads into a buffer we own, of its length.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return created;
            }
            // Each event: wd (4 bytes), mask (4), cookie (4), len (4), then `len` bytes of name.
            let mut at = 0;
            while at + 16 <= n as usize {
                let word =
                    |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap());
                if word(4) & libc::IN_CREATE != 0 {
                    created += 1;
                }
                at += 16 + word(12) as usize;
            }
        }
    }
}

impl Drop for Creations {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[tokio::test]
async fn readying_a_release_writes_no_temporary_file() {
    let temp = tempfile::tempdir().unwrap();
    // Before SQLite starts in this process (it reads the variable once).
    std::env::set_var("SQLITE_TMPDIR", temp.path());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/buffer.db", dir.path().display());
    let store = rustig::store::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let t0 = DateTime::parse_from_rfc3339("2026-11-23T07:00:00+01:00")
        .unwrap()
        .with_timezone(&Utc);
    // 5 000 staged notices (as ingest leaves them), all due at t0: the merge changes a few
    // hundred pages, megabytes of statement journal if it needed one.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
         INSERT INTO notices (key, school, record, event_id, student, recipient, role, channel, \
                              kind, due_at, state, reasons, grouped) \
         SELECT 'n' || i, 's', 'r' || i, 'e' || i, 'st' || (i % 700), 'g' || (i % 1300), \
                'guardian', 'email', 'grade', ?1, 'pending', '[]', 0 FROM n",
    )
    .bind(ms(t0))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let created = Creations::watch(temp.path());
    // The watch works: a file made here is seen.
    std::fs::write(temp.path().join("probe"), b"").unwrap();
    assert_eq!(created.take(), 1);

    assert_eq!(store.prepare_due(t0).await.unwrap(), 5000);
    assert_eq!(created.take(), 0, "readying wrote a temporary file");
}
