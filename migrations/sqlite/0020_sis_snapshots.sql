-- What the SIS pollers saw last (src/source/poll): per (source, scope) one row per item, by
-- digest only (no grades, notes or names), with the version its last event carried. A row
-- whose item disappeared stays as a tombstone (digest NULL) so that a reappearance gets a new
-- event id. `sis_scopes` marks a scope as polled (a first poll is a baseline) and holds a
-- source's cursor (the processed export file, the SOMtoday events index).
CREATE TABLE sis_scopes (
    source    TEXT NOT NULL,
    scope     TEXT NOT NULL,
    polled_at INTEGER NOT NULL,
    cursor    TEXT,
    PRIMARY KEY (source, scope)
) WITHOUT ROWID;

CREATE TABLE sis_rows (
    source  TEXT NOT NULL,
    scope   TEXT NOT NULL,
    key     TEXT NOT NULL,
    digest  TEXT,
    version INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    record  TEXT NOT NULL,
    student TEXT NOT NULL,
    part    TEXT,
    PRIMARY KEY (source, scope, key)
) WITHOUT ROWID;
