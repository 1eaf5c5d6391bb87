-- The durable delay buffer, shared by several rustig instances. Tables, columns and their
-- meaning match migrations/sqlite: instants are UTC milliseconds since the epoch (BIGINT), so
-- the same queries, tools and reasoning work on both stores.

-- Every event ever accepted, by id (the idempotency key). `body` is the canonical JSON.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    school      TEXT NOT NULL,
    type        TEXT NOT NULL,
    record      TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body        TEXT NOT NULL
);

-- The current version of each SIS record: the newest event by occurred_at.
CREATE TABLE records (
    school      TEXT NOT NULL,
    record      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    PRIMARY KEY (school, record)
);

-- Classroom releases (`assessment.released`): the earliest one per assessment and class.
CREATE TABLE releases (
    school      TEXT NOT NULL,
    release_key TEXT NOT NULL,
    released_at BIGINT NOT NULL,
    PRIMARY KEY (school, release_key)
);

-- Planned notices. state: pending → claimed → sent | dead; pending ones are replaced when
-- their record changes. A claim holds until `claimed_until` (the lease); after that any
-- instance may take it over.
CREATE TABLE notices (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    school        TEXT NOT NULL,
    record        TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    student       TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    role          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    due_at        BIGINT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_until BIGINT,
    sent_at       BIGINT,
    message_key   TEXT,
    last_error    TEXT,
    release_key   TEXT,
    reasons       TEXT NOT NULL
);
CREATE INDEX notices_due ON notices (due_at) WHERE state IN ('pending', 'claimed');
CREATE INDEX notices_lease ON notices (claimed_until) WHERE state = 'claimed';
-- Claiming whole (school, recipient, channel) groups, and the daily cap per group.
CREATE INDEX notices_group ON notices (school, recipient, channel);
CREATE INDEX notices_record ON notices (school, record);
CREATE INDEX notices_release ON notices (school, release_key) WHERE release_key IS NOT NULL;
CREATE INDEX notices_event ON notices (event_id);

-- Input that could not be accepted, kept with the reason; never dropped.
CREATE TABLE quarantine (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BYTEA NOT NULL
);

-- The directory as last imported (one row).
CREATE TABLE directory (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
