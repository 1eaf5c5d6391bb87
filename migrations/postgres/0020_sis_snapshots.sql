-- Mirrors migrations/sqlite/0020_sis_snapshots.sql: the SIS pollers' last snapshots, by
-- digest only, with tombstones, and per scope a polled marker and a cursor.
CREATE TABLE sis_scopes (
    source    TEXT NOT NULL,
    scope     TEXT NOT NULL,
    polled_at BIGINT NOT NULL,
    cursor    TEXT,
    PRIMARY KEY (source, scope)
);

CREATE TABLE sis_rows (
    source  TEXT NOT NULL,
    scope   TEXT NOT NULL,
    key     TEXT NOT NULL,
    digest  TEXT,
    version BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    record  TEXT NOT NULL,
    student TEXT NOT NULL,
    part    TEXT,
    PRIMARY KEY (source, scope, key)
);
