-- Status counts the pending email notices a relay fault holds (`held_by_relay_fault`): only
-- notices whose last try failed, a handful, instead of every pending email notice (a scan
-- of 2.4 million rows took 0.6 s per `GET /v1/status` with 1 000 000 events waiting).
-- Notices enter this index only when a send fails; ingest does not touch it.
CREATE INDEX notices_relay_held ON notices (channel) WHERE state = 'pending' AND last_error IS NOT NULL;
