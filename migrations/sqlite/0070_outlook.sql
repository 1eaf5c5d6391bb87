-- The dashboard's calm figures (issue 14): a school's sent notices of one week, read by
-- (school, sent_at) instead of every sent notice the retention keeps. The week ahead reads
-- pending notices by `notices_school_due` (0030).
CREATE INDEX notices_school_sent ON notices (school, sent_at) WHERE state = 'sent';
