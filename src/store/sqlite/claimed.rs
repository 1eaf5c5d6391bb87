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
//! Each write is one statement over a JSON array of rows, not one statement per row: SQLite
//! copies every page a statement changes into the statement's journal (so that the statement
//! alone can be undone), and a statement per row copies the same pages again for each row,
//! which made the release a third slower when measured.

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
    let rows: Vec<(i64, Option<i64>)> = claimed.iter().map(|n| (n.id, n.message_id)).collect();
    let rows = json(&rows);
    // The message's key stays in its row (`NOTICE_COLUMNS` reads it from there); a copy that
    // a row written before may hold is the same key, and goes.
    db.prepare(
        "UPDATE notices SET state = 'claimed', claimed_until = ?2, \
         message_id = j.value->>1, message_key = NULL \
         FROM json_each(?1) AS j WHERE notices.id = j.value->>0",
    )?
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

/// What each kind of outcome sets on its notices, from rows `[id, time, text]` (`j`), and the
/// state it leaves them in: sent, retried, dead, deferred.
const CHANGES: [(&str, &str); 4] = [
    (
        "state = 'sent', sent_at = j.value->>1, \
         message_key = CASE WHEN message_id IS NULL THEN j.value->>2 END, \
         claimed_until = NULL, attempts = attempts + 1",
        "sent",
    ),
    (
        "state = 'pending', due_at = j.value->>1, last_error = j.value->>2, \
         claimed_until = NULL, attempts = attempts + 1",
        "pending",
    ),
    (
        "state = 'dead', last_error = j.value->>2, claimed_until = NULL, attempts = attempts + 1",
        "dead",
    ),
    (
        "state = 'pending', due_at = j.value->>1, claimed_until = NULL, \
         reasons = json_insert(reasons, '$[#]', json(j.value->>2))",
        "pending",
    ),
];

/// A notice an outcome is recorded on: `[id, time, text]` for [`CHANGES`].
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
            Outcome::Sent { message_key, at } => (0, Some(*at), Cow::from(message_key.as_str())),
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
        for ((set, to), rows) in CHANGES.iter().zip(&rows) {
            if rows.is_empty() {
                continue;
            }
            let update = format!(
                "UPDATE notices SET {set} FROM json_each(?1) AS j WHERE notices.id = j.value->>0"
            );
            let mut taken = HashSet::with_capacity(rows.len());
            db.prepare(&format!(
                "{update} AND notices.state = 'claimed' RETURNING id, school, channel"
            ))?
            .run_rows(&[json(rows).as_str().into()], |row| {
                taken.insert(row.int(0));
                moves.moved(row.text(1), row.text(2), "claimed", to);
            })?;
            let left: Vec<_> = rows.iter().filter(|r| !taken.contains(&r.0)).collect();
            if !left.is_empty() {
                let left = json(&left);
                let mut was = HashMap::new();
                db.prepare(
                    "SELECT id, school, channel, state FROM notices \
                     WHERE id IN (SELECT value->>0 FROM json_each(?1))",
                )?
                .run_rows(&[left.as_str().into()], |row| {
                    let (school, channel) = (row.text(1).to_owned(), row.text(2).to_owned());
                    was.insert(row.int(0), (school, channel, row.text(3).to_owned()));
                })?;
                db.prepare(&format!("{update} RETURNING id"))?.run_rows(
                    &[left.as_str().into()],
                    |row| {
                        if let Some((school, channel, from)) = was.get(&row.int(0)) {
                            moves.moved(school, channel, from, to);
                        }
                    },
                )?;
            }
        }
        moves.write(db)
    })
    .await
}
