-- bookings: what bookings.c checks, enforced again by the database (DATA1).
-- Times are UTC epoch ms (DATA2) in BIGINT, which is 64 bits on PostgreSQL
-- and INTEGER to SQLite; end_ms excludes the cleaning gap, which
-- lives only in bookings.c (CONC1). Overlap itself cannot be a constraint in
-- portable SQL: creation's single guarded INSERT ... WHERE NOT EXISTS is what
-- prevents it.
CREATE TABLE IF NOT EXISTS bookings (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tier           TEXT    NOT NULL CHECK (tier IN ('standard', 'premium')),
    package        TEXT    NOT NULL CHECK (package IN ('basic', 'extended', 'deluxe')),
    start_ms       BIGINT  NOT NULL CHECK (start_ms % 1800000 = 0),
    end_ms         BIGINT  NOT NULL,
    price_cents    BIGINT  NOT NULL CHECK (price_cents BETWEEN 1 AND 100000),
    status         TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled')),
    customer_name  TEXT    NOT NULL CHECK (length(customer_name) BETWEEN 1 AND 100),
    customer_email TEXT    NOT NULL CHECK (length(customer_email) BETWEEN 3 AND 254),
    customer_phone TEXT             CHECK (customer_phone IS NULL OR length(customer_phone) BETWEEN 9 AND 16),
    email_sent     BIGINT  NOT NULL DEFAULT 0 CHECK (email_sent IN (0, 1)),
    email_error    TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    CHECK (end_ms - start_ms IN (3600000, 7200000, 10800000)),
    CHECK (package <> 'deluxe' OR tier = 'premium')
);
-- Every read path: the overlap check on insert, availability and the
-- unavailable list all scan active rows by start (status IN (…) AND start_ms
-- in a range); admin transitions go by id (the primary key).
CREATE INDEX IF NOT EXISTS bookings_status_start ON bookings (status, start_ms);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
