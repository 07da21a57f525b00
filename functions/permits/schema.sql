-- permits: one parking permit request per row. Status moves pending →
-- approved only through the guarded UPDATE in permits.c; the CHECKs below
-- agree with it (DATA1). Times are epoch ms, UTC (DATA2).
CREATE TABLE IF NOT EXISTS permits (
    id          TEXT    PRIMARY KEY CHECK (length(id) = 36),
    booking_id  TEXT    NOT NULL CHECK (length(booking_id) BETWEEN 1 AND 64),
    plate       TEXT    NOT NULL CHECK (length(plate) BETWEEN 2 AND 16),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email       TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved')),
    approved_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK ((status = 'approved') = (approved_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS permits_booking ON permits (booking_id);

-- The email outbox (REL4, REL5): BASTION_EMAIL_SCHEMA from shared/src/email.c.
CREATE TABLE IF NOT EXISTS email_failures (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed')),
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS email_failures_due ON email_failures (status, next_attempt_at);
