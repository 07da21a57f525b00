-- auth: accounts (AUTH3). Sessions are not here: CSRF tokens and the logout
-- denylist live in kv "sessions" (shared/src/session.c). Times are UTC epoch
-- ms (DATA2) in BIGINT.
CREATE TABLE IF NOT EXISTS users (
    id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    email         TEXT    NOT NULL UNIQUE -- also the login lookup's index
                          CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
    password_hash TEXT    NOT NULL CHECK (substr(password_hash, 1, 14) = 'pbkdf2_sha256$'),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    tenant        TEXT             CHECK (tenant IS NULL OR length(tenant) BETWEEN 1 AND 64),
    created_at    BIGINT  NOT NULL
);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
