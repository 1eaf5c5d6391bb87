//! A notice's way into `claimed` and out of it again on SQLite: the release's two writes,
//! with the notice counters moved once per batch (issue 18).
//!
//! Why: a release rewrites every notice twice, at the claim and at the record of its
//! outcome, and the counters' trigger (migration 0060) cost ~12 000 instructions per row on
//! each. These two writers know each row's school and channel (the claim from the rows it
//! read, the record from its own `RETURNING`), so they add up their changes to
//! `notice_counts` and write them once per (school, channel, state); the trigger leaves
//! every change into or out of `claimed` to them (migration 0110).
//!
//! Each write is one statement over a JSON array of rows, not one statement per row: SQLite
//! copies every page a statement changes into the statement's journal (so that the statement
//! alone can be undone), and a statement per row copies the same pages again for each row,
//! which made the release a third slower when measured.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};

use super::raw::{self, Db, Value};
use crate::store::{to_ms, Outcome, Result, StoredNotice};

/// Changes to `notice_counts`, summed per (school, channel, state) before they are written.
/// A batch touches a few schools and channels, so a short list beats a map.
#[derive(Default)]
struct Moves(Vec<(String, String, String, i64)>);

impl Moves {
    /// One notice of `school` on `channel` went from state `from` to `to`.
    fn moved(&mut self, school: &str, channel: &str, from: &str, to: &str) {
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

    fn write(&self, db: Db<'_>) -> Result<()> {
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
}

/// Claims the rows read by a claim until `lease_until`, each with the message it is in. A row
/// read as `claimed` (its lease ran out and is taken over) is counted as claimed already.
pub(super) async fn mark(
    tx: &mut Transaction<'static, Sqlite>,
    claimed: &mut [StoredNotice],
    lease_until: DateTime<Utc>,
) -> Result<()> {
    if claimed.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, Option<i64>, Option<&str>)> = claimed
        .iter()
        .map(|n| (n.id, n.message_id, n.message_key.as_deref()))
        .collect();
    let rows = serde_json::to_string(&rows).expect("rows serialize");
    raw::with_raw(tx, |db| {
        db.prepare(
            "UPDATE notices SET state = 'claimed', claimed_until = ?2, \
             message_id = j.value->>1, message_key = j.value->>2 \
             FROM json_each(?1) AS j WHERE notices.id = j.value->>0",
        )?
        .run(&[rows.as_str().into(), to_ms(lease_until).into()])?;
        let mut moves = Moves::default();
        for n in claimed.iter().filter(|n| n.state != "claimed") {
            moves.moved(&n.school, n.channel.as_str(), &n.state, "claimed");
        }
        moves.write(db)
    })
    .await?;
    for n in claimed {
        n.state = "claimed".into();
    }
    Ok(())
}

/// Records each outcome on its notices (see [`crate::store::Store::finish`]): every sent
/// notice in one statement, then each other outcome in order. A deferred message must be
/// dissolved before (`dissolve_unsent`).
///
/// The statements only take rows that are still `claimed`, and tell each row's school and
/// channel for the counters. A row that is not (another claim took its lease over and
/// finished it, or an operator resent it meanwhile) is changed as before by a second
/// statement, whose change the trigger counts; an erased row is changed by neither.
pub(super) async fn finish(
    tx: &mut Transaction<'static, Sqlite>,
    outcomes: &[(Vec<i64>, Outcome)],
) -> Result<()> {
    let sent: Vec<(i64, i64, &str)> = outcomes
        .iter()
        .filter_map(|(ids, o)| match o {
            Outcome::Sent { message_key, at } => Some((ids, to_ms(*at), message_key.as_str())),
            _ => None,
        })
        .flat_map(|(ids, at, key)| ids.iter().map(move |id| (*id, at, key)))
        .collect();
    raw::with_raw(tx, |db| {
        let mut moves = Moves::default();
        if !sent.is_empty() {
            let set = "state = 'sent', sent_at = j.value->>1, message_key = j.value->>2, \
                       claimed_until = NULL, attempts = attempts + 1 \
                       FROM json_each(?1) AS j WHERE notices.id = j.value->>0";
            let ids: Vec<i64> = sent.iter().map(|r| r.0).collect();
            let rows = serde_json::to_string(&sent).expect("rows serialize");
            let taken = take(db, set, &[rows.as_str().into()], &mut moves, "sent")?;
            let left = not_taken(&ids, &taken);
            if !left.is_empty() {
                let left: HashSet<i64> = left.into_iter().collect();
                let left: Vec<_> = sent.iter().filter(|r| left.contains(&r.0)).collect();
                let left = serde_json::to_string(&left).expect("rows");
                db.prepare(&format!("UPDATE notices SET {set}"))?
                    .run(&[left.as_str().into()])?;
            }
        }
        for (ids, outcome) in outcomes {
            let reason = match outcome {
                Outcome::Defer { reason } => crate::store::reasons::encode_one(reason),
                _ => String::new(),
            };
            let (set, to, b, c): (&str, &str, Value<'_>, Value<'_>) = match outcome {
                Outcome::Sent { .. } => continue,
                Outcome::Retry { error, at } => (
                    "state = 'pending', due_at = ?2, last_error = ?3, claimed_until = NULL, \
                     attempts = attempts + 1",
                    "pending",
                    to_ms(*at).into(),
                    error.into(),
                ),
                Outcome::Dead { error } => (
                    "state = 'dead', last_error = ?3, claimed_until = NULL, \
                     attempts = attempts + 1",
                    "dead",
                    Value::Null,
                    error.into(),
                ),
                Outcome::Defer { reason: r } => (
                    "state = 'pending', due_at = ?2, claimed_until = NULL, \
                     reasons = json_insert(reasons, '$[#]', json(?3))",
                    "pending",
                    to_ms(r.to).into(),
                    reason.as_str().into(),
                ),
            };
            let set = format!("{set} WHERE id IN (SELECT value FROM json_each(?1))");
            let json = serde_json::to_string(ids).expect("ids");
            let taken = take(db, &set, &[json.as_str().into(), b, c], &mut moves, to)?;
            let left = not_taken(ids, &taken);
            if !left.is_empty() {
                let left = serde_json::to_string(&left).expect("ids");
                db.prepare(&format!("UPDATE notices SET {set}"))?.run(&[
                    left.as_str().into(),
                    b,
                    c,
                ])?;
            }
        }
        moves.write(db)
    })
    .await
}

/// Runs `UPDATE notices SET {set}` on the rows it selects that are still claimed, counts each
/// as moved to `to`, and returns their ids.
fn take(
    db: Db<'_>,
    set: &str,
    params: &[Value<'_>],
    moves: &mut Moves,
    to: &str,
) -> Result<Vec<i64>> {
    let mut taken = Vec::new();
    db.prepare(&format!(
        "UPDATE notices SET {set} AND notices.state = 'claimed' RETURNING id, school, channel"
    ))?
    .run_rows(params, |row| {
        taken.push(row.int(0));
        moves.moved(row.text(1), row.text(2), "claimed", to);
    })?;
    Ok(taken)
}

/// The ids of `ids` that are not in `taken` (usually none).
fn not_taken(ids: &[i64], taken: &[i64]) -> Vec<i64> {
    if taken.len() >= ids.len() {
        return Vec::new();
    }
    let taken: HashSet<i64> = taken.iter().copied().collect();
    ids.iter()
        .copied()
        .filter(|id| !taken.contains(id))
        .collect()
}
