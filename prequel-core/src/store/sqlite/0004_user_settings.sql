-- Schema version 4: small per-user settings for frontends.
--
-- A platform that does not tell Prequel a user's preferences (Discord has no user time zone)
-- keeps them here, so every replica reads the same value. Keyed by platform and the platform's
-- user id; settings must hold no secrets.
CREATE TABLE user_settings (
    platform   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id, key)
) STRICT;
