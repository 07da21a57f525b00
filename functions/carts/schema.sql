-- carts: a shopper's cart, written whole by PUT /api/carts/{id} and
-- completed once (functions/carts/carts.c); the abandoned-carts job reminds
-- the open ones (functions/abandoned-carts). The CHECKs are the rules
-- carts.c validates (DATA1); money is integer cents, time is epoch ms UTC
-- (DATA2), both BIGINT.
CREATE TABLE IF NOT EXISTS carts (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    email        TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    status       TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    -- computed by carts.c from the items, never taken from the client
    lines        BIGINT  NOT NULL CHECK (lines BETWEEN 0 AND 100),
    quantity     BIGINT  NOT NULL CHECK (quantity BETWEEN 0 AND 99900),
    total_cents  BIGINT  NOT NULL CHECK (total_cents BETWEEN 0 AND 999000000000),
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    completed_at BIGINT,
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
-- the job's candidates: open carts by when they were last touched
CREATE INDEX IF NOT EXISTS carts_open ON carts (status, updated_at, id);

CREATE TABLE IF NOT EXISTS cart_items (
    cart_id      TEXT    NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    line         BIGINT  NOT NULL CHECK (line BETWEEN 1 AND 100),
    sku          TEXT    NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    qty          BIGINT  NOT NULL CHECK (qty BETWEEN 1 AND 999),
    price_cents  BIGINT  NOT NULL CHECK (price_cents BETWEEN 0 AND 10000000),
    PRIMARY KEY (cart_id, line),
    UNIQUE (cart_id, sku)
);

-- The abandoned-carts job's reminders (REL6): the first and the second,
-- each claimed by inserting its row, with the email's outbox row, before it
-- is sent; a reminder counts as sent only when this insert committed.
CREATE TABLE IF NOT EXISTS cart_reminders (
    cart_id      TEXT    NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    seq          BIGINT  NOT NULL CHECK (seq IN (1, 2)),
    claimed_at   BIGINT  NOT NULL,
    PRIMARY KEY (cart_id, seq)
);

-- The email outbox (REL4, REL5) for the reminders.
-- bastion:include ../../shared/schema/email_failures.sql
