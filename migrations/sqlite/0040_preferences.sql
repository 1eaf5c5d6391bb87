-- The families' own choices from the preference page (src/model/preference.rs), kept apart
-- from the directory so that an import never overwrites them. One row per person.
CREATE TABLE preferences (
    school     TEXT NOT NULL,
    person     TEXT NOT NULL,
    role       TEXT NOT NULL,
    choice     TEXT NOT NULL,
    -- Links signed before this unix second are revoked (NULL: none).
    links_from INTEGER,
    -- Milliseconds of the last change: a form carries it, a stale form is refused.
    version    INTEGER NOT NULL,
    PRIMARY KEY (school, person)
);
-- A change re-plans the pending notices about the person's students at once.
CREATE INDEX notices_pending_student ON notices (school, student) WHERE state = 'pending';
