-- Private by default (issue 11, AVG): retention, erasure, bounded quarantine and conflicts.
-- src/store/retention.rs says what is purged when.

-- SHA-256 of an event's canonical JSON: the same id with other content is a conflict, an
-- identical repeat a duplicate, also after the body is purged. NULL for events stored before
-- this migration (their body is hashed when needed).
ALTER TABLE events ADD COLUMN hash TEXT;
-- When the personal fields were purged (the body is then '{}'); NULL while kept.
ALTER TABLE events ADD COLUMN purged_at INTEGER;
CREATE INDEX events_unpurged ON events (received_at) WHERE purged_at IS NULL;

-- A quarantined item keeps a bounded prefix in `raw`; `size` and `hash` (SHA-256) are of the
-- whole item, `kept` is what the row counts against [quarantine] max_bytes. `kind` is
-- `rejected` (not a valid event) or `conflict` (an id stored before with other content).
ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'rejected';
ALTER TABLE quarantine ADD COLUMN size INTEGER;
ALTER TABLE quarantine ADD COLUMN hash TEXT;
ALTER TABLE quarantine ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;
UPDATE quarantine SET size = length(raw), kept = length(raw) + length(reason) + 100;
CREATE INDEX quarantine_received ON quarantine (received_at);

-- Delivered and dead notices by when they ended, for the purge.
CREATE INDEX notices_done ON notices (COALESCE(sent_at, due_at)) WHERE state IN ('sent', 'dead');

-- What remains of purged notices: counts per UTC day (of sending, or of the last due time for
-- dead ones), school, channel, role, kind and state. No person is named.
CREATE TABLE notice_days (
    day     TEXT NOT NULL,
    school  TEXT NOT NULL,
    channel TEXT NOT NULL,
    role    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    state   TEXT NOT NULL,
    notices INTEGER NOT NULL,
    PRIMARY KEY (day, school, channel, role, kind, state)
) WITHOUT ROWID;
