-- Ingest moves the notice counters once per batch and (school, channel) itself
-- (`insert_notices` in src/store/sqlite.rs, the only writer that inserts notices), instead of
-- this trigger updating `notice_counts` once per inserted row: about a tenth of the ingest
-- time (issue 18). Deletes and state changes keep their triggers (migration 0060).
DROP TRIGGER notice_counts_insert;
