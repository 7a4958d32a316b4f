-- Schema version 5: the people a requester named to share an interview (`with @someone`).
--
-- A JSON array of user ids on the requester's platform; `[]` for every interview before this.
-- Written once, with the interview; the ownership rule (prequel-core/src/access.rs) reads it.
ALTER TABLE interviews ADD COLUMN co_interviewers TEXT NOT NULL DEFAULT '[]';
