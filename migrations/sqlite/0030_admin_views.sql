-- The admin API's views and `rustig status` (issue 13), each from an index rather than a scan
-- of the whole buffer per request: lists by state (dead, pending, …) and a student's timeline
-- keyset-paginated by id, counts per school and state, and per school the next release and
-- the oldest pending notice.
CREATE INDEX notices_state_id ON notices (state, id);
CREATE INDEX notices_student ON notices (student, id);
CREATE INDEX notices_school_state ON notices (school, state);
CREATE INDEX notices_school_due ON notices (school, due_at) WHERE state = 'pending';
