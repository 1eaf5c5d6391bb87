-- The claim finds its groups from the first due rows (`notices_due`, in due order) and needed
-- each row's group (school, recipient, channel) from the table: ~8 000 look-ups of random rows
-- per release round. The index now holds the group too, so that read never leaves it (a
-- covering index): a round's group query ~35 % shorter (issue 18, eighteenth round). Only due,
-- merged notices are in it, so the ingest does not write it; the merge a minute ahead of a
-- release (`prepare_due`) does, and the claim takes a notice out again.
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices (due_at, school, recipient, channel)
WHERE state = 'pending' AND grouped = 1;
