//! The ingest batch's writes and the release's claim on SQLite's own connection, past sqlx
//! (issue 18).
//!
//! Why: through sqlx, a batch of 1 000 events spent ~40 % of its time in the driver (binding
//! multi-row `VALUES` statements, `RETURNING` rows sent back one by one to learn which event
//! ids were new). A single-row `INSERT` prepared once per batch and stepped for every row does
//! the same work in SQLite alone, and `sqlite3_changes` says per row whether it was stored —
//! no `RETURNING`. sqlx stays for everything else: [`with_raw`] borrows the connection of the
//! open transaction (`lock_handle`), so these writes are part of it.
//!
//! A claim reads a few thousand notices: through sqlx each row is copied into an owned row
//! and sent to the waiting task fifty at a time, and the claim holds the connection while the
//! runtime, busy rendering, gets round to them. Here [`Row`] lends the columns in place.

use std::ffi::{c_int, CStr};
use std::ptr;

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

use crate::store::{Result, StoreError};

/// Runs `f` on the raw handle of `conn` (inside its transaction, if one is open). `f` runs
/// synchronously on the calling thread, with the runtime's other tasks moved off it
/// ([`off_the_runtime`]); sqlx's worker thread waits meanwhile.
pub(super) async fn with_raw<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(Db<'_>) -> Result<T>,
) -> Result<T> {
    let mut handle = conn.lock_handle().await?;
    let db = Db {
        raw: handle.as_raw_handle().as_ptr(),
        _handle: std::marker::PhantomData,
    };
    off_the_runtime(|| f(db))
}

/// Runs `f`, which holds this thread for up to tens of milliseconds (a claim, a batch), so
/// that on a multi-thread runtime the worker's other tasks move to another thread meanwhile
/// (`block_in_place`): a release's sends must not stall behind a claim that happens to run
/// on their worker. On a current-thread runtime (tests) `f` simply runs.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A borrowed connection handle, valid while the lock is held.
#[derive(Clone, Copy)]
pub(super) struct Db<'h> {
    raw: *mut ffi::sqlite3,
    _handle: std::marker::PhantomData<&'h mut ()>,
}

impl<'h> Db<'h> {
    /// Prepares one statement, kept for many rows (`SQLITE_PREPARE_PERSISTENT`).
    pub(super) fn prepare(self, sql: &str) -> Result<Stmt<'h>> {
        let mut stmt = ptr::null_mut();
        // SAFETY: `raw` is the open connection behind the held lock; `sql` is valid for
        // `sql.len()` bytes (no NUL needed when the length is given).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.raw,
                sql.as_ptr().cast(),
                sql.len() as c_int,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            return Err(self.error(rc));
        }
        Ok(Stmt {
            db: self,
            raw: stmt,
        })
    }

    fn error(self, rc: c_int) -> StoreError {
        // SAFETY: the connection is open; sqlite3_errmsg returns a NUL-terminated string it
        // owns, copied at once.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.raw)) }
            .to_string_lossy()
            .into_owned();
        StoreError::Sqlite(format!("{msg} (code {rc})"))
    }
}

/// One value bound to a parameter.
pub(super) enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Value<'a> {
        Value::Text(s)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Value<'a> {
        Value::Text(s)
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl<'a> From<Option<&'a String>> for Value<'a> {
    fn from(s: Option<&'a String>) -> Value<'a> {
        s.map_or(Value::Null, |s| Value::Text(s))
    }
}

/// A prepared statement, finalized when dropped.
pub(super) struct Stmt<'h> {
    db: Db<'h>,
    raw: *mut ffi::sqlite3_stmt,
}

impl Stmt<'_> {
    /// Binds `params` (?1, ?2, …), runs the statement to its end and returns how many rows it
    /// changed itself (not counting triggers). The bindings are cleared before returning, so
    /// no borrowed text outlives the call.
    pub(super) fn run(&mut self, params: &[Value<'_>]) -> Result<usize> {
        self.run_rows(params, |_| {})
    }

    /// Like [`Stmt::run`], and hands every row the statement returns (`RETURNING …`) to
    /// `row`, one at a time.
    pub(super) fn run_rows(
        &mut self,
        params: &[Value<'_>],
        mut row: impl FnMut(Row<'_>),
    ) -> Result<usize> {
        let rc = self.bind_all(params).and_then(|()| loop {
            // SAFETY: a prepared statement of this open connection, every parameter bound.
            match unsafe { ffi::sqlite3_step(self.raw) } {
                ffi::SQLITE_DONE => break Ok(()),
                ffi::SQLITE_ROW => row(Row {
                    raw: self.raw,
                    _row: std::marker::PhantomData,
                }),
                rc => break Err(rc),
            }
        });
        // SAFETY: as above; reset and clear_bindings are valid in any state.
        let changed = unsafe {
            let changed = ffi::sqlite3_changes(self.db.raw);
            ffi::sqlite3_reset(self.raw);
            ffi::sqlite3_clear_bindings(self.raw);
            changed
        };
        rc.map_err(|rc| self.db.error(rc))?;
        Ok(changed.max(0) as usize)
    }

    fn bind_all(&mut self, params: &[Value<'_>]) -> std::result::Result<(), c_int> {
        for (i, v) in params.iter().enumerate() {
            let i = i as c_int + 1;
            // SAFETY: SQLITE_STATIC: SQLite keeps the pointer without copying; `run` steps and
            // clears the bindings before the borrowed text can go away.
            let rc = unsafe {
                match v {
                    Value::Text(s) => ffi::sqlite3_bind_text(
                        self.raw,
                        i,
                        s.as_ptr().cast(),
                        s.len() as c_int,
                        ffi::SQLITE_STATIC(),
                    ),
                    Value::Int(n) => ffi::sqlite3_bind_int64(self.raw, i, *n),
                    Value::Null => ffi::sqlite3_bind_null(self.raw, i),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(rc);
            }
        }
        Ok(())
    }
}

/// The row a statement stands on, valid until its next step.
pub(super) struct Row<'r> {
    raw: *mut ffi::sqlite3_stmt,
    _row: std::marker::PhantomData<&'r ()>,
}

impl Row<'_> {
    /// Column `i` (from 0) as an integer; a NULL reads as 0.
    pub(super) fn int(&self, i: c_int) -> i64 {
        // SAFETY: the statement stands on a row (see `text`).
        unsafe { ffi::sqlite3_column_int64(self.raw, i) }
    }

    /// Whether column `i` (from 0) is NULL.
    pub(super) fn is_null(&self, i: c_int) -> bool {
        // SAFETY: the statement stands on a row (see `text`).
        unsafe { ffi::sqlite3_column_type(self.raw, i) == ffi::SQLITE_NULL }
    }

    /// Column `i` (from 0) as text; a NULL reads as "".
    pub(super) fn text(&self, i: c_int) -> &str {
        // SAFETY: the statement stands on a row (a `Row` lives only inside `run_rows`'s
        // callback, before the next step), and the text SQLite returns stays valid until that
        // step; the returned `&str` borrows the row. SQLite hands text out as UTF-8.
        unsafe {
            let p = ffi::sqlite3_column_text(self.raw, i);
            if p.is_null() {
                return "";
            }
            let n = ffi::sqlite3_column_bytes(self.raw, i);
            std::str::from_utf8(std::slice::from_raw_parts(p, n as usize)).unwrap_or("")
        }
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: prepared by `Db::prepare` and finalized only here.
        unsafe {
            ffi::sqlite3_finalize(self.raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// The bundled SQLite is built with the options in `.cargo/config.toml`: no global memory
    /// statistics, so its allocations take no process-wide mutex (BENCHMARKS.md, twelfth
    /// round). Fails when a build does not pass them to libsqlite3-sys.
    #[tokio::test]
    async fn the_bundled_sqlite_keeps_no_memory_statistics() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "compile options: {options:?}"
        );
    }

    /// With one runtime worker, a task keeps running while another holds the raw connection:
    /// the release's sends go on while the next round is claimed. It fails with `f` run in
    /// place on the worker (the ticker would not run until the raw work is done).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_while_the_raw_connection_is_held() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        // Let the ticker start, then hold the connection (and the worker's thread: a spawned
        // task runs on the one worker, not on the test's own thread) for 300 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let during = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                with_raw(&mut conn, |db| {
                    db.prepare("SELECT 1")?.run(&[])?;
                    let before = ticks.load(Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(ticks.load(Ordering::SeqCst) - before)
                })
                .await
            }
        })
        .await
        .unwrap()
        .unwrap();
        ticker.abort();
        assert!(
            during >= 5,
            "the other task ticked {during} times in 300 ms while the connection was held"
        );
    }
}
