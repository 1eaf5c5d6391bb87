//! A release round's second read on SQLite: the due groups of the rows in the gaps between the
//! rows its first read claimed (issue 18).
//!
//! Why: a round's writes are mostly the notices table's own pages, each written at the claim's
//! commit and again at the record's. The claim takes groups in the order their first notice
//! arrived, so a round's rows lie together. A group whose first notice came later than its
//! neighbours' (a student whose first event was an absence, which only the guardians hear of)
//! has its rows one here and one there between rows claimed long before, and the rounds that
//! took them last touched ~1 300 pages each in the bench's backlog, most of the table. Taken
//! with the round whose pages they lie on, they cost no page of their own (BENCHMARKS.md,
//! issue 18, twenty-first round).
//!
//! The gaps are found from the first read's ids here, not in SQL: looking up every claimed
//! row's next row in the statement cost ~7 % of the claim's instructions; this looks up only
//! the first row of each gap (~200 a round).

use super::claimable_rows_of;

/// The first rowid of each gap after a row of `ids`: the ids that follow one of `ids` and
/// are not among them.
pub(super) fn gaps_after(ids: &mut [i64]) -> Vec<i64> {
    ids.sort_unstable();
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if ids.get(i + 1) != Some(&(id + 1)) {
            out.push(id + 1);
        }
    }
    out
}

/// The rows of the due groups at `gaps`, at most `limit` groups: every claimable row of each,
/// as the claim's first read takes them. `?1` is now, `?2` the gaps (a JSON array of ids),
/// `?3` the limit.
pub(super) fn query() -> String {
    format!(
        "WITH f AS MATERIALIZED ( \
           SELECT DISTINCT a.school, a.recipient, a.channel \
             FROM json_each(?2) AS j CROSS JOIN notices AS a ON a.id = j.value \
             WHERE a.state = 'pending' AND a.grouped = 1 AND a.due_at <= ?1 LIMIT ?3) \
         {}",
        claimable_rows_of("f")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_starts_after_each_run_of_ids() {
        let mut ids = vec![12, 3, 4, 5, 9, 10, 7];
        assert_eq!(gaps_after(&mut ids), [6, 8, 11, 13]);
        assert_eq!(gaps_after(&mut []), Vec::<i64>::new());
    }
}
