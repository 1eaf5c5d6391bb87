-- The audit trail (src/store/audit.rs): operator actions and changes of a person's own
-- choices. Append-only: an UPDATE is refused; only retention deletes old rows.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after  TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_target ON audit (target, id);

CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
