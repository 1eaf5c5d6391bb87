-- A hash of the stored directory, so that a start with an unchanged directory file does not
-- write (and hold in memory twice) megabytes of JSON again.
ALTER TABLE directory ADD COLUMN hash TEXT;
