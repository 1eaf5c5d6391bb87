-- Notices per (school, channel, state), kept exact in the transaction of every change, so the
-- status view and the metrics' gauges read a few rows instead of counting a backlog of
-- millions (issue 13). Triggers rather than code in each writer: ingest, claims, finishing,
-- supersedes, cancel, release-now, resend, purge and erasure all change `notices`, and a
-- trigger cannot be forgotten by the next one. Rows whose count fell to 0 stay (there are
-- only schools × channels × states of them); readers skip them.
CREATE TABLE notice_counts (
    school  TEXT NOT NULL,
    channel TEXT NOT NULL,
    state   TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (school, channel, state)
) WITHOUT ROWID;

-- SQLite has one writer at a time: the migration's transaction sees every notice there is.
INSERT INTO notice_counts (school, channel, state, count)
SELECT school, channel, state, COUNT(*) FROM notices GROUP BY school, channel, state;

CREATE TRIGGER notice_counts_insert AFTER INSERT ON notices
BEGIN
    INSERT INTO notice_counts (school, channel, state, count)
    VALUES (NEW.school, NEW.channel, NEW.state, 1)
    ON CONFLICT (school, channel, state) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER notice_counts_delete AFTER DELETE ON notices
BEGIN
    UPDATE notice_counts SET count = count - 1
    WHERE school = OLD.school AND channel = OLD.channel AND state = OLD.state;
END;

CREATE TRIGGER notice_counts_update AFTER UPDATE OF school, channel, state ON notices
WHEN OLD.school IS NOT NEW.school OR OLD.channel IS NOT NEW.channel OR OLD.state IS NOT NEW.state
BEGIN
    UPDATE notice_counts SET count = count - 1
    WHERE school = OLD.school AND channel = OLD.channel AND state = OLD.state;
    INSERT INTO notice_counts (school, channel, state, count)
    VALUES (NEW.school, NEW.channel, NEW.state, 1)
    ON CONFLICT (school, channel, state) DO UPDATE SET count = count + 1;
END;
