-- The claim finds its groups from the first due rows (`notices_due`, in due order) and needed
-- each row's group (school, recipient, channel) from the table: ~8 000 look-ups of rows all
-- over the table per release round. The index now holds the group too, so that read never
-- leaves it (a covering index; issue 18, eighteenth round). `id` comes second so that the
-- candidates are taken in the order they were before (due time, then arrival): in group order
-- a round's notices and events lay further apart, and reading a round's events took ~25 %
-- longer. Only due, merged notices are in this index, so the ingest does not write it; the
-- merge a minute ahead of a release (`prepare_due`) does, and the claim takes a notice out.
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices (due_at, id, school, recipient, channel)
WHERE state = 'pending' AND grouped = 1;
