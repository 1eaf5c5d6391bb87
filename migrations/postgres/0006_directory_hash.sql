-- Mirrors migrations/sqlite/0007_directory_hash.sql.
-- A hash of the stored directory, so that a start with an unchanged directory file does not
-- write megabytes of JSON again.
ALTER TABLE directory ADD COLUMN hash TEXT;
