-- Schema version 1: interviews, their operations, operation logs and the change feed.
--
-- Times are INTEGER milliseconds since the Unix epoch (UTC), so they sort and compare as numbers.
-- The scheduler's queues are VIRTUAL generated columns that are NULL for rows outside the queue,
-- each with a partial index over the non-NULL rows: every queue query is then a plain range
-- search `key <= ?` on its own small index, and a row leaves a queue by its state changing —
-- there is no second copy of the state to keep in step.

CREATE TABLE interviews (
    id                     TEXT    NOT NULL PRIMARY KEY,
    challenge              TEXT    NOT NULL,
    candidate              TEXT,
    requester_platform     TEXT    NOT NULL,
    requester_user_id      TEXT    NOT NULL,
    requester_display_name TEXT    NOT NULL,
    time_zone              TEXT    NOT NULL,
    start_at               INTEGER NOT NULL,
    length_minutes         INTEGER NOT NULL,
    destroy_at             INTEGER NOT NULL,
    state                  TEXT    NOT NULL CHECK (state IN ('scheduled', 'initializing', 'configuring',
                                   'active', 'destroying', 'destroyed', 'failed', 'cancelled')),
    access_url             TEXT,
    reason                 TEXT,
    warned_at              INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    expires_at             INTEGER,
    version                INTEGER NOT NULL,
    -- Not part of the record: the creating request exactly as asked (canonical JSON), so an
    -- idempotent retry is recognised even after the interview was extended or moved on.
    request                TEXT    NOT NULL,
    -- Not part of the record: 1 once the interview's (only) destroy operation exists.
    has_destroy            INTEGER NOT NULL DEFAULT 0 CHECK (has_destroy IN (0, 1)),

    -- Queue keys (see the top of this file).
    open_start_at  INTEGER GENERATED ALWAYS AS (
        CASE WHEN state IN ('scheduled', 'initializing', 'configuring', 'active', 'destroying')
             THEN start_at END) VIRTUAL,
    destroy_due_at INTEGER GENERATED ALWAYS AS (
        CASE WHEN state IN ('scheduled', 'initializing', 'configuring', 'active', 'destroying')
                  AND has_destroy = 0
             THEN destroy_at END) VIRTUAL,
    warn_due_at    INTEGER GENERATED ALWAYS AS (
        CASE WHEN state IN ('scheduled', 'initializing', 'configuring', 'active', 'destroying')
                  AND has_destroy = 0 AND warned_at IS NULL
             THEN destroy_at END) VIRTUAL,

    -- Invariant 8, enforced by the schema: only terminal interviews can expire.
    CHECK (expires_at IS NULL OR state IN ('destroyed', 'failed', 'cancelled'))
) STRICT;

CREATE INDEX interviews_by_start        ON interviews (start_at, id);
CREATE INDEX interviews_open_by_start   ON interviews (open_start_at, id)  WHERE open_start_at IS NOT NULL;
CREATE INDEX interviews_destroy_due     ON interviews (destroy_due_at, id) WHERE destroy_due_at IS NOT NULL;
CREATE INDEX interviews_warn_due        ON interviews (warn_due_at, id)    WHERE warn_due_at IS NOT NULL;
CREATE INDEX interviews_by_expiry       ON interviews (expires_at)         WHERE expires_at IS NOT NULL;

CREATE TABLE operations (
    id                     TEXT    NOT NULL PRIMARY KEY,
    interview_id           TEXT    NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    kind                   TEXT    NOT NULL CHECK (kind IN ('create', 'destroy')),
    status                 TEXT    NOT NULL CHECK (status IN ('pending', 'scheduled', 'running',
                                   'completed', 'failed', 'cancelled')),
    due_at                 INTEGER NOT NULL,
    attempts               INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts           INTEGER NOT NULL CHECK (max_attempts >= 0),
    lease_holder           TEXT,
    lease_until            INTEGER,
    requester_platform     TEXT    NOT NULL,
    requester_user_id      TEXT    NOT NULL,
    requester_display_name TEXT    NOT NULL,
    result                 TEXT,
    error                  TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    expires_at             INTEGER,
    version                INTEGER NOT NULL,

    -- Claimable once `ready_at <= now`: a waiting operation at its due time, a running one
    -- strictly after its lease ran out (`lease_until < now` is `lease_until + 1 <= now` in ms).
    ready_at        INTEGER GENERATED ALWAYS AS (
        CASE WHEN status IN ('pending', 'scheduled') THEN due_at
             WHEN status = 'running' THEN lease_until + 1 END) VIRTUAL,
    waiting_due_at  INTEGER GENERATED ALWAYS AS (
        CASE WHEN status IN ('pending', 'scheduled') THEN due_at END) VIRTUAL,
    lease_expiry_at INTEGER GENERATED ALWAYS AS (
        CASE WHEN status = 'running' THEN lease_until END) VIRTUAL,

    -- At most one create and one destroy per interview, whoever asks and however often.
    UNIQUE (interview_id, kind),
    -- A lease exists exactly while the operation runs.
    CHECK ((status = 'running') = (lease_holder IS NOT NULL AND lease_until IS NOT NULL)),
    -- Invariant 8: only terminal operations can expire.
    CHECK (expires_at IS NULL OR status IN ('completed', 'failed', 'cancelled'))
) STRICT;

CREATE INDEX operations_ready        ON operations (ready_at, id)      WHERE ready_at IS NOT NULL;
CREATE INDEX operations_waiting      ON operations (waiting_due_at)    WHERE waiting_due_at IS NOT NULL;
CREATE INDEX operations_leases       ON operations (lease_expiry_at)   WHERE lease_expiry_at IS NOT NULL;
CREATE INDEX operations_by_expiry    ON operations (expires_at)        WHERE expires_at IS NOT NULL;

CREATE TABLE operation_logs (
    seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    operation_id TEXT    NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    message      TEXT    NOT NULL
) STRICT;

CREATE INDEX operation_logs_by_operation ON operation_logs (operation_id, seq);

-- The change feed. AUTOINCREMENT: a cursor is never reused, even after old rows are purged, and
-- since writers are serialised (BEGIN IMMEDIATE) a row never becomes visible before a lower seq.
CREATE TABLE changes (
    seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    interview_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL
) STRICT;

CREATE INDEX changes_by_time ON changes (at);
