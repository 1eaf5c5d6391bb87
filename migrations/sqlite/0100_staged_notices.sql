-- Ingest at twice the rate (issue 18): a new pending notice no longer lands on a random page
-- of a recipient-keyed index in every batch. It is *staged*: an entry in `notices_staged`,
-- ordered by due time like the inserts themselves. When it comes due, the claim merges it
-- (`grouped = 1`, every staged due notice at once) into `notices_group`, the recipient-keyed
-- index the claim bundles by, and into `notices_due`. So a recipient still gets one message
-- for all of their due notices, and `notices_group` holds due notices only.
ALTER TABLE notices ADD COLUMN grouped INTEGER NOT NULL DEFAULT 0;
UPDATE notices SET grouped = 1 WHERE state = 'pending';

DROP INDEX notices_group;
CREATE INDEX notices_group ON notices (school, recipient, channel) WHERE state = 'pending' AND grouped = 1;
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices (due_at) WHERE state = 'pending' AND grouped = 1;
CREATE INDEX notices_staged ON notices (due_at) WHERE state = 'pending' AND grouped = 0;

-- Two more per-notice entries the ingest paid for and no query needs any longer: a person's
-- pending notices are found by `notices_student` (a student has a few hundred notices at
-- most), and the counts per school and state come from `notice_counts` (0060), lists by state
-- from `notices_state_id`.
DROP INDEX notices_pending_student;
DROP INDEX notices_school_state;
