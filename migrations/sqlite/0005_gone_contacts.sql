-- Contacts a push service called gone (Web Push 404/410, FCM UNREGISTERED, …), by a hash of
-- the contact (no addresses or tokens here). Skipped in planning and sending until a
-- directory import no longer lists them.
CREATE TABLE gone_contacts (
    school     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    marked_at  INTEGER NOT NULL,
    PRIMARY KEY (school, recipient, contact_id)
);

-- Dead letters, for `rustig resend` and the admin API.
CREATE INDEX notices_dead ON notices (event_id) WHERE state = 'dead';
