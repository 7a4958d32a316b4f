-- Schema version 6: what makes the API and the chat endpoints safe with several replicas.
--
-- `once_keys`: a chat request's identity (a Slack signature, a Discord interaction id), claimed
-- by the first replica that sees it and refused to every other until it expires; purged after.
CREATE TABLE once_keys (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX once_keys_expiry ON once_keys (expires_at);

-- `api_tokens`: personal API tokens. Only a SHA-256 of each token's secret part is kept; the
-- token itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_name    TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX api_tokens_by_creation ON api_tokens (created_at, id);
