-- Schema version 2: what went into the workspace and where the work went.
--
-- challenge_checksum: the sha256 of the challenge bundle put into the instance (recorded when the
-- create completes), so an interviewer can tell exactly which version of a challenge a candidate
-- saw. archive: where the candidate's work was archived (recorded when the destroy completes).
ALTER TABLE interviews ADD COLUMN challenge_checksum TEXT;
ALTER TABLE interviews ADD COLUMN archive TEXT;
