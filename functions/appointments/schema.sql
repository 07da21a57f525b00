-- appointments: one row per customer request. Status moves requested →
-- confirmed → cancelled only forward; the guarded UPDATE in appointments.c
-- and these CHECKs agree (DATA1). Times are epoch ms, UTC (DATA2).
CREATE TABLE IF NOT EXISTS appointments (
    id              TEXT    PRIMARY KEY CHECK (length(id) = 36),
    service         TEXT    NOT NULL
                            CHECK (service IN ('consultation', 'fitting', 'repair', 'pickup')),
    preferred_start INTEGER NOT NULL,
    name            TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email           TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    phone           TEXT    CHECK (phone IS NULL OR length(phone) BETWEEN 9 AND 16),
    notes           TEXT    CHECK (notes IS NULL OR length(notes) <= 1000),
    status          TEXT    NOT NULL DEFAULT 'requested'
                            CHECK (status IN ('requested', 'confirmed', 'cancelled')),
    cancelled_by    TEXT,                  -- who cancelled (the admin's token subject)
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (status = 'cancelled' OR cancelled_by IS NULL)
);
CREATE INDEX IF NOT EXISTS appointments_start ON appointments (status, preferred_start);
CREATE INDEX IF NOT EXISTS appointments_email ON appointments (email, created_at);

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
