-- A release rewrites every notice twice: the claim (`pending` → `claimed`) and the record of
-- its outcome (`claimed` → `sent`, …). Two costs per row of each are taken off (issue 18):
--
-- 1. The counters' update trigger (0060) no longer counts changes into or out of `claimed`.
--    The only two writers that make them, the claim and the record (src/store/sqlite/
--    claimed.rs), know each row's school and channel and move `notice_counts` once per batch
--    and (school, channel, state) instead. Every other change is still counted here.
DROP TRIGGER notice_counts_update;
CREATE TRIGGER notice_counts_update AFTER UPDATE OF school, channel, state ON notices
WHEN (OLD.school IS NOT NEW.school OR OLD.channel IS NOT NEW.channel OR OLD.state IS NOT NEW.state)
  AND OLD.state IS NOT 'claimed' AND NEW.state IS NOT 'claimed'
BEGIN
    UPDATE notice_counts SET count = count - 1
    WHERE school = OLD.school AND channel = OLD.channel AND state = OLD.state;
    INSERT INTO notice_counts (school, channel, state, count)
    VALUES (NEW.school, NEW.channel, NEW.state, 1)
    ON CONFLICT (school, channel, state) DO UPDATE SET count = count + 1;
END;

-- 2. The admin list by state (0030) keeps no entry for a claimed notice, so the claim only
--    removes the notice's entry and the record only adds one, instead of moving it each time.
--    Claimed notices are the few a release holds in flight; their list walks `notices_lease`.
--    The admin query names the condition (`state <> 'claimed'`) so SQLite may use this index.
DROP INDEX notices_state_id;
CREATE INDEX notices_state_id ON notices (state, id) WHERE state <> 'claimed';
