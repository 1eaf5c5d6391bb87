-- Mirrors migrations/sqlite/0031_unresolved.sql. Events for a student (or school) the directory does not know yet (issue 13): accepted, kept
-- here, planned as soon as an import adds the student, and reported dead with the reason
-- after `[directory] unresolved_hold`. Instants are UTC milliseconds since the epoch.
CREATE TABLE unresolved (
    event_id TEXT PRIMARY KEY NOT NULL,
    school   TEXT NOT NULL,
    student  TEXT NOT NULL,
    record   TEXT NOT NULL,
    since    BIGINT NOT NULL,
    -- Set when the hold ran out: the event is dead, `reason` says why.
    dead_at  BIGINT,
    reason   TEXT
);
-- The students still waiting (resolve after an import, warn once per student), and the
-- counts per school in the status.
CREATE INDEX unresolved_student ON unresolved (school, student) WHERE dead_at IS NULL;
CREATE INDEX unresolved_since ON unresolved (since) WHERE dead_at IS NULL;
