-- Mirrors migrations/sqlite/0010_outbox.sql: the outbox. A claim records each new message
-- (key, recipient, channel) and links its notices; a re-claim after a crash or a retry sends
-- exactly those notices again under the same key. `claims` above 1: possibly sent.
CREATE TABLE messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    school     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    claims     INTEGER NOT NULL DEFAULT 1
);
ALTER TABLE notices ADD COLUMN message_id BIGINT REFERENCES messages (id);
CREATE INDEX notices_message ON notices (message_id) WHERE message_id IS NOT NULL;
