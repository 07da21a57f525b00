-- appointments: one row per customer request. Status moves requested →
-- confirmed → cancelled only forward; the guarded UPDATE in appointments.c
-- and these CHECKs agree (DATA1). Times are epoch ms, UTC (DATA2), in BIGINT
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
    cancelled_by    TEXT,                  -- who cancelled (the admin's token subject)
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    CHECK (status = 'cancelled' OR cancelled_by IS NULL)
);
CREATE INDEX IF NOT EXISTS appointments_start ON appointments (status, preferred_start);
CREATE INDEX IF NOT EXISTS appointments_email ON appointments (email, created_at);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
