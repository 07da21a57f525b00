-- permits: one parking permit request per row. Status moves pending →
-- approved only through the guarded UPDATE in permits.c; the CHECKs below
-- agree with it (DATA1). Times are epoch ms, UTC (DATA2), in BIGINT (64 bits
-- on PostgreSQL, INTEGER to SQLite).
CREATE TABLE IF NOT EXISTS permits (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    booking_id  TEXT    NOT NULL CHECK (length(booking_id) BETWEEN 1 AND 64),
    plate       TEXT    NOT NULL CHECK (length(plate) BETWEEN 2 AND 16),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email       TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    status      TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved')),
    approved_at BIGINT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    CHECK ((status = 'approved') = (approved_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS permits_booking ON permits (booking_id);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
