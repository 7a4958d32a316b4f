-- Schema version 3: small per-interview notes for frontends.
--
-- A frontend keeps what it needs to find its own messages again (the Slack channel an interview
-- was asked in, the timestamp of its status message, which DMs went out) here rather than in
-- memory, so every replica sees the same notes. A conditional insert of a note is how several
-- replicas agree that a message goes out exactly once. Notes go with their interview.
CREATE TABLE interview_notes (
    interview_id TEXT    NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    key          TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (interview_id, key)
) STRICT;
