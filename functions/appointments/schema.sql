-- appointments: one row per customer request. Status moves requested →
-- confirmed → cancelled only forward; the guarded UPDATEs in appointments.c
-- and these CHECKs agree (DATA1). An admin's confirmation sets the start the
-- reminders job works from. Times are epoch ms, UTC (DATA2), in BIGINT
-- (PostgreSQL's INTEGER is 32 bits; SQLite reads BIGINT as INTEGER).
CREATE TABLE IF NOT EXISTS appointments (
    id              TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    service         TEXT    NOT NULL
                            CHECK (service IN ('consultation', 'fitting', 'repair', 'pickup')),
    preferred_start BIGINT  NOT NULL,
    name            TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email           TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    phone           TEXT    CHECK (phone IS NULL OR length(phone) BETWEEN 9 AND 16),
    notes           TEXT    CHECK (notes IS NULL OR length(notes) <= 1000),
    status          TEXT    NOT NULL DEFAULT 'requested'
                            CHECK (status IN ('requested', 'confirmed', 'cancelled')),
    confirmed_start BIGINT,                -- the time an admin confirmed
    confirmed_by    TEXT,                  -- who confirmed (the admin's token subject)
    cancelled_by    TEXT,                  -- who cancelled (the admin's token subject)
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    CHECK (status = 'cancelled' OR cancelled_by IS NULL),
    CHECK ((confirmed_start IS NULL) = (confirmed_by IS NULL)),
    CHECK (status <> 'requested' OR confirmed_start IS NULL),
    CHECK (status <> 'confirmed' OR confirmed_start IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS appointments_start ON appointments (status, preferred_start);
CREATE INDEX IF NOT EXISTS appointments_email ON appointments (email, created_at);
CREATE INDEX IF NOT EXISTS appointments_confirmed ON appointments (status, confirmed_start);

-- The reminders job's claims (functions/reminders, REL6): one row per
-- (appointment, kind), inserted in the same transaction as the reminder's
-- outbox row and before it is sent, so a reminder is claimed once whatever
-- runs at the same time; a failed send stays in the outbox, never re-sent
-- as a new reminder.
CREATE TABLE IF NOT EXISTS appointment_reminders (
    appointment_id  TEXT    NOT NULL REFERENCES appointments (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('24h', '1h')),
    start_at        BIGINT  NOT NULL,  -- the confirmed start it reminds of
    claimed_at      BIGINT  NOT NULL,
    PRIMARY KEY (appointment_id, kind)
);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
