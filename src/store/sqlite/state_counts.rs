//! Moves of the notice counters (`notice_counts`, migration 0060) when notices change state,
//! summed per (school, channel, state) and written once by the writer that made them.
//!
//! Why not a trigger: SQLite runs a row trigger for every row an `UPDATE` of its columns
//! changes, if only to test its `WHEN`, and the release changes every notice's state twice;
//! that cost ~1 600 instructions per row of the claim's mark and ~1 200 per row of the record
//! (BENCHMARKS.md, issue 18, eighteenth round). So every writer that changes a state counts it
//! here (migration 0130): the claim and the record (`claimed`), an operator's cancel and
//! release-now, and the resends of dead notices. Inserts and deletes are counted apart (the
//! ingest per batch, the delete trigger).

use sqlx::SqliteConnection;

use super::raw::{self, Db};
use crate::store::Result;

/// Changes to `notice_counts`, summed per (school, channel, state) before they are written.
/// A batch touches a few schools and channels, so a short list beats a map.
#[derive(Default)]
pub(super) struct Moves(Vec<(String, String, String, i64)>);

impl Moves {
    /// One notice of `school` on `channel` went from state `from` to `to` (the same state:
    /// the two cancel out, and [`Moves::write`] skips what sums to 0).
    pub(super) fn moved(&mut self, school: &str, channel: &str, from: &str, to: &str) {
        self.add(school, channel, from, -1);
        self.add(school, channel, to, 1);
    }

    fn add(&mut self, school: &str, channel: &str, state: &str, n: i64) {
        let found = self
            .0
            .iter_mut()
            .find(|(s, c, st, _)| st == state && c == channel && s == school);
        match found {
            Some(m) => m.3 += n,
            None => self
                .0
                .push((school.to_owned(), channel.to_owned(), state.to_owned(), n)),
        }
    }

    /// Writes the moves on `db`, in the transaction of the changes they count.
    pub(super) fn write(&self, db: Db<'_>) -> Result<()> {
        if self.0.iter().all(|m| m.3 == 0) {
            return Ok(());
        }
        let mut count = db.prepare(
            "INSERT INTO notice_counts (school, channel, state, count) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (school, channel, state) DO UPDATE SET count = count + excluded.count",
        )?;
        for (school, channel, state, n) in self.0.iter().filter(|m| m.3 != 0) {
            count.run(&[
                school.into(),
                channel.into(),
                state.as_str().into(),
                (*n).into(),
            ])?;
        }
        Ok(())
    }

    /// [`Moves::write`] on a connection (a transaction) that sqlx holds.
    pub(super) async fn write_on(&self, conn: &mut SqliteConnection) -> Result<()> {
        raw::with_raw(conn, |db| self.write(db)).await
    }
}
