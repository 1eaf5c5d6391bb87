//! A notice's way into `claimed` and out of it again on SQLite: the release's two writes,
//! with the notice counters moved once per batch (issue 18).
//!
//! Why: a release rewrites every notice twice, at the claim and at the record of its
//! outcome, and the counters' trigger (migration 0060) cost ~12 000 instructions per row on
//! each. These two writers know each row's school and channel (the claim from the rows it
//! read, the record from its own `RETURNING`), so they add up their changes to
//! `notice_counts` and write them once per (school, channel, state) (`state_counts`;
//! migrations 0110 and 0130).
//!
//! Neither write copies the message's key into its notices: the key is in the message's row,
//! which every claimed notice links to, and `NOTICE_COLUMNS` reads it from there. The copy
//! made every row the claim rewrote 33 bytes wider, on pages the ingest left nearly full;
//! without it the release to the null sink ran ~4 % faster (BENCHMARKS.md, issue 18, sixteenth
//! round). A notice recorded as sent without a message row (not claimed by this store) keeps
//! the key it was sent under.
//!
//! Each write is one statement over all its rows (one JSON object from each notice's id to
//! what it sets: [`by_id`]), not one statement per row: SQLite copies every page a statement
//! changes into the statement's journal (so that the statement alone can be undone), and a
//! statement per row copies the same pages again for each row, which made the release a third
//! slower when measured.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};

use super::json;
use super::raw::{self, Db};
use super::state_counts::Moves;
use crate::store::{to_ms, Outcome, Result, StoredNotice};

/// Claims the rows read by a claim until `lease_until`, each with the message it is in. A row
/// read as `claimed` (its lease ran out and is taken over) is counted as claimed already.
pub(super) fn mark(
    db: Db<'_>,
    claimed: &mut [StoredNotice],
    lease_until: DateTime<Utc>,
) -> Result<()> {
    if claimed.is_empty() {
        return Ok(());
    }
    let rows = by_id(claimed.iter().map(|n| (n.id, n.message_id)), write_int);
    db.prepare(&update(MARK))?
        .run(&[rows.as_str().into(), to_ms(lease_until).into()])?;
    let mut moves = Moves::default();
    for n in claimed.iter().filter(|n| n.state != "claimed") {
        moves.moved(&n.school, n.channel.as_str(), &n.state, "claimed");
    }
    moves.write(db)?;
    for n in claimed {
        n.state = "claimed".into();
    }
    Ok(())
}

/// What a claim sets on its notices: `?2` the lease's end, `j.value` the message's row. The
/// message's key stays in that row (`NOTICE_COLUMNS` reads it from there); a copy that a row
/// written before may hold is the same key, and goes.
const MARK: &str =
    "state = 'claimed', claimed_until = ?2, message_id = j.value, message_key = NULL";

/// What each kind of outcome sets on its notices, and the state it leaves them in: sent,
/// retried, dead, deferred. `j` is a row of [`by_id`]: `j.key` the notice, `j.value` the sent
/// time for a sent notice, `[time, text]` for the others.
///
/// A sent notice without a message row keeps the key it was sent under: set afterwards, for
/// the rows the statement says have none (`keys_of_unlinked`), so that the statement over
/// every sent row reads no text.
const CHANGES: [(&str, &str); 4] = [
    (
        "state = 'sent', sent_at = j.value, \
         message_key = CASE WHEN message_id IS NULL THEN message_key END, \
         claimed_until = NULL, attempts = attempts + 1",
        "sent",
    ),
    (
        "state = 'pending', due_at = j.value->>0, last_error = j.value->>1, \
         claimed_until = NULL, attempts = attempts + 1",
        "pending",
    ),
    (
        "state = 'dead', last_error = j.value->>1, claimed_until = NULL, attempts = attempts + 1",
        "dead",
    ),
    (
        "state = 'pending', due_at = j.value->>0, claimed_until = NULL, \
         reasons = json_insert(reasons, '$[#]', json(j.value->>1))",
        "pending",
    ),
];

/// What sets the key of a sent notice without a message row (`keys_of_unlinked`).
const UNLINKED_KEY: &str = "message_key = j.value";

/// A notice an outcome is recorded on: its id, and the time and text for [`CHANGES`].
type Row<'o> = (i64, Option<i64>, Cow<'o, str>);

/// Records each outcome on its notices (see [`crate::store::Store::finish`]): one statement
/// per kind of outcome for all the notices of the batch. A deferred message must be dissolved
/// before (`dissolve_unsent`).
///
/// The statements only take rows that are still `claimed`, and tell each row's school and
/// channel for the counters. A row that is not (another claim took its lease over and
/// finished it, or an operator resent it meanwhile) is changed as before by a second
/// statement, counted from the state read just before it; an erased row is changed by
/// neither.
pub(super) async fn finish(
    tx: &mut Transaction<'_, Sqlite>,
    outcomes: &[(Vec<i64>, Outcome)],
) -> Result<()> {
    let mut rows: [Vec<Row<'_>>; 4] = Default::default();
    for (ids, outcome) in outcomes {
        let (kind, at, text) = match outcome {
            Outcome::Sent { at, .. } => (0, Some(*at), Cow::from("")),
            Outcome::Retry { error, at } => (1, Some(*at), Cow::from(error.as_str())),
            Outcome::Dead { error } => (2, None, Cow::from(error.as_str())),
            Outcome::Defer { reason } => (
                3,
                Some(reason.to),
                Cow::from(crate::store::reasons::encode_one(reason)),
            ),
        };
        let at = at.map(to_ms);
        rows[kind].extend(ids.iter().map(|id| (*id, at, text.clone())));
    }
    raw::with_raw(tx, |db| {
        let mut moves = Moves::default();
        let mut unlinked = Vec::new();
        for (kind, ((set, to), rows)) in CHANGES.iter().zip(&rows).enumerate() {
            if rows.is_empty() {
                continue;
            }
            let sent = kind == 0;
            let value = |out: &mut String, (_, at, text): &Row<'_>| {
                if sent {
                    write_int(out, *at);
                } else {
                    out.push_str(&json(&(at, text)));
                }
            };
            let update = update(set);
            let mut taken = HashSet::with_capacity(rows.len());
            db.prepare(&format!(
                "{update} AND notices.state = 'claimed' \
                 RETURNING id, school, channel, message_id IS NULL"
            ))?
            .run_rows(
                &[by_id(rows.iter().map(|r| (r.0, r)), value).as_str().into()],
                |row| {
                    taken.insert(row.int(0));
                    moves.moved(row.text(1), row.text(2), "claimed", to);
                    if sent && row.int(3) == 1 {
                        unlinked.push(row.int(0));
                    }
                },
            )?;
            let left: Vec<_> = rows.iter().filter(|r| !taken.contains(&r.0)).collect();
            if !left.is_empty() {
                let left = by_id(left.into_iter().map(|r| (r.0, r)), value);
                let mut was = HashMap::new();
                db.prepare(
                    "SELECT id, school, channel, state FROM notices \
                     WHERE id IN (SELECT CAST(key AS INTEGER) FROM json_each(?1))",
                )?
                .run_rows(&[left.as_str().into()], |row| {
                    let (school, channel) = (row.text(1).to_owned(), row.text(2).to_owned());
                    was.insert(row.int(0), (school, channel, row.text(3).to_owned()));
                })?;
                db.prepare(&format!("{update} RETURNING id, message_id IS NULL"))?
                    .run_rows(&[left.as_str().into()], |row| {
                        if let Some((school, channel, from)) = was.get(&row.int(0)) {
                            moves.moved(school, channel, from, to);
                        }
                        if sent && row.int(1) == 1 {
                            unlinked.push(row.int(0));
                        }
                    })?;
            }
        }
        if !unlinked.is_empty() {
            db.prepare(&update(UNLINKED_KEY))?
                .run(&[keys_of_unlinked(outcomes, &unlinked).as_str().into()])?;
        }
        moves.write(db)
    })
    .await
}

/// The keys that the sent notices `unlinked` (no message row) were sent under, by id.
fn keys_of_unlinked(outcomes: &[(Vec<i64>, Outcome)], unlinked: &[i64]) -> String {
    let unlinked: HashSet<i64> = unlinked.iter().copied().collect();
    let mut keys = Vec::new();
    for (ids, outcome) in outcomes {
        if let Outcome::Sent { message_key, .. } = outcome {
            let of_unlinked = ids.iter().filter(|id| unlinked.contains(id));
            keys.extend(of_unlinked.map(|id| (*id, message_key.as_str())));
        }
    }
    by_id(keys, |out, key| out.push_str(&json(key)))
}

/// The statement that changes each notice of a [`by_id`] object (`?1`, read as `j`) by `set`.
fn update(set: &str) -> String {
    format!("UPDATE notices SET {set} FROM json_each(?1) AS j WHERE notices.id = j.key")
}

/// Rows for an [`update`]: one JSON object
/// from each row's id to its value (written by `value`). `json_each` gives the id as `j.key`
/// (text, which SQLite compares with the integer id as a number: a seek by rowid) and the
/// value as `j.value`, so a value that is one number is read without calling a JSON
/// function. On an array of rows, each `j.value->>i` parsed the row again: ~1 400
/// instructions a call, four a notice between its claim and its record (BENCHMARKS.md, issue
/// 18, twentieth round).
fn by_id<T>(rows: impl IntoIterator<Item = (i64, T)>, value: impl Fn(&mut String, T)) -> String {
    use std::fmt::Write;
    let mut out = String::from("{");
    for (i, (id, row)) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "\"{id}\":").expect("writes to a String");
        value(&mut out, row);
    }
    out.push('}');
    out
}

/// A JSON integer, or `null`.
fn write_int(out: &mut String, n: Option<i64>) {
    use std::fmt::Write;
    match n {
        Some(n) => write!(out, "{n}").expect("writes to a String"),
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::query_plan;
    use super::*;

    /// Every statement over a [`by_id`] object finds its notices by rowid, although the ids
    /// in the object are text: a plan that scanned the table would read every notice of the
    /// store at each claim and record.
    #[tokio::test]
    async fn each_notice_of_an_object_is_found_by_its_rowid() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rustig.db").display());
        let store = super::super::SqliteStore::open(&url).await.unwrap();
        let claimed = "notices.state = 'claimed'";
        let mut statements = vec![update(MARK)];
        statements.extend(CHANGES.iter().map(|(set, _)| update(set)));
        statements.extend(
            CHANGES
                .iter()
                .map(|(set, _)| format!("{} AND {claimed}", update(set))),
        );
        statements.push(update(UNLINKED_KEY));
        for sql in statements {
            let plan = query_plan(&store, &sql).await;
            assert!(
                plan.iter()
                    .any(|d| d.starts_with("SEARCH notices USING INTEGER PRIMARY KEY")),
                "{sql}: {plan:#?}"
            );
            assert!(
                !plan.iter().any(|d| d.starts_with("SCAN notices")),
                "{sql}: {plan:#?}"
            );
        }
    }
}
