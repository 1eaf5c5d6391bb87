-- The outbox (issue 11): a message's composition and key are fixed in the claim's
-- transaction, before its first send. A claim records one row per new message and links its
-- notices to it; a claim taken over after a crash, or a retry, sends exactly those notices
-- again under the same key. Notices that became due since form a message of their own.
-- `claims` counts the claims that took the message: above 1 it may have been sent, and it
-- stays as it is until it is sent or dead. No personal data: ids and the key only.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    school     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    claims     INTEGER NOT NULL DEFAULT 1
);
ALTER TABLE notices ADD COLUMN message_id INTEGER REFERENCES messages (id);
CREATE INDEX notices_message ON notices (message_id) WHERE message_id IS NOT NULL;
