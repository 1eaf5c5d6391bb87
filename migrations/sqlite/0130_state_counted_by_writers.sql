-- Every change of a notice's state is counted into `notice_counts` by the statement's writer,
-- no longer by a trigger (issue 18, eighteenth round). The trigger left after 0110 did not
-- count the release's two writes (into and out of `claimed`), but SQLite still ran it for
-- every row they changed, to test its WHEN: ~10 % of the claim's mark. The writers that change
-- a state are few, and each knows the rows it changes: the claim and the record
-- (src/store/sqlite/claimed.rs), an operator's cancel and release-now (admin.rs), and the two
-- resends of dead notices. No writer changes a notice's school or channel. Inserts and deletes
-- are counted as before (the ingest per batch, 0080; the delete trigger, 0060).
-- `tests/admin_store.rs` checks the counters against a count after any sequence of changes.
DROP TRIGGER notice_counts_update;
