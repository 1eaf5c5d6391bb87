-- Notices per (school, channel, state), kept exact in the transaction of every change, so the
-- status view and the metrics' gauges read a few rows instead of counting a backlog of
-- millions (issue 13). Triggers rather than code in each writer: ingest, claims, finishing,
-- supersedes, cancel, release-now, resend, purge and erasure all change `notices`, and a
-- trigger cannot be forgotten by the next one.
--
-- Two instances must not queue on one counter row (every ingest transaction of a school would
-- wait for the other's commit), so a change only appends rows to `notice_count_deltas`: one
-- per (school, channel, state) that a statement changed, from statement-level triggers over
-- the statement's transition tables. A reader sums `notice_counts` and the deltas in one
-- snapshot; a fold (one instance at a time, under an advisory lock) moves the deltas into
-- `notice_counts` in one transaction, so every snapshot sees each change exactly once.
CREATE TABLE notice_counts (
    school  TEXT NOT NULL,
    channel TEXT NOT NULL,
    state   TEXT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (school, channel, state)
);

CREATE TABLE notice_count_deltas (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school  TEXT NOT NULL,
    channel TEXT NOT NULL,
    state   TEXT NOT NULL,
    delta   BIGINT NOT NULL
);

CREATE FUNCTION notice_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_count_deltas (school, channel, state, delta)
    SELECT school, channel, state, COUNT(*) FROM counted_new GROUP BY school, channel, state;
    RETURN NULL;
END $$;

CREATE FUNCTION notice_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_count_deltas (school, channel, state, delta)
    SELECT school, channel, state, -COUNT(*) FROM counted_old GROUP BY school, channel, state;
    RETURN NULL;
END $$;

-- Most updates (a claim's message link, a re-plan's due time) move no notice between
-- counters: their net change is 0 and appends nothing.
CREATE FUNCTION notice_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_count_deltas (school, channel, state, delta)
    SELECT school, channel, state, SUM(d) FROM (
        SELECT school, channel, state, 1 AS d FROM counted_new
        UNION ALL
        SELECT school, channel, state, -1 AS d FROM counted_old
    ) changed
    GROUP BY school, channel, state
    HAVING SUM(d) <> 0;
    RETURN NULL;
END $$;

-- Creating the triggers locks `notices` against writers until this migration commits, so the
-- fill below (a snapshot taken after the lock) counts every notice once: those committed
-- before it here, those after it through the triggers.
CREATE TRIGGER notice_counts_insert AFTER INSERT ON notices
    REFERENCING NEW TABLE AS counted_new
    FOR EACH STATEMENT EXECUTE FUNCTION notice_counts_inserted();
CREATE TRIGGER notice_counts_delete AFTER DELETE ON notices
    REFERENCING OLD TABLE AS counted_old
    FOR EACH STATEMENT EXECUTE FUNCTION notice_counts_deleted();
CREATE TRIGGER notice_counts_update AFTER UPDATE ON notices
    REFERENCING OLD TABLE AS counted_old NEW TABLE AS counted_new
    FOR EACH STATEMENT EXECUTE FUNCTION notice_counts_updated();

INSERT INTO notice_counts (school, channel, state, count)
SELECT school, channel, state, COUNT(*) FROM notices GROUP BY school, channel, state;
