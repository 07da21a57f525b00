-- orders: paid by stripe-webhook (checkout.session.completed), read by GET
-- /api/orders/{id}.
-- The CHECKs are the same rules the writers validate (DATA1); money is
-- integer cents, time is epoch ms UTC (DATA2), both BIGINT (64 bits on
-- PostgreSQL, INTEGER to SQLite). The id and currency alphabets are one rule
-- in each dialect's pattern syntax.
CREATE TABLE IF NOT EXISTS orders (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    user_id      TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255), -- the owner's token sub
    status       TEXT    NOT NULL
                         CHECK (status IN ('pending', 'paid', 'failed', 'fulfilled', 'cancelled',
                                           'refunded')),
    total_cents  BIGINT  NOT NULL CHECK (total_cents BETWEEN 0 AND 9007199254740991),
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    created_at   BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999),
    updated_at   BIGINT  NOT NULL CHECK (updated_at BETWEEN 0 AND 253402300799999),
-- bastion:dialect sqlite
    CHECK (id NOT GLOB '*[^A-Za-z0-9_-]*' AND currency GLOB '[A-Z][A-Z][A-Z]')
) WITHOUT ROWID;
-- bastion:end
-- bastion:dialect postgres
    CHECK (id !~ '[^A-Za-z0-9_-]' AND currency ~ '^[A-Z][A-Z][A-Z]$')
);
-- bastion:end
-- a user's orders (list pages, the payments work's lookups)
CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, created_at);

CREATE TABLE IF NOT EXISTS order_items (
    order_id          TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line              BIGINT  NOT NULL CHECK (line BETWEEN 1 AND 1000),
    sku               TEXT    NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name              TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    quantity          BIGINT  NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price_cents  BIGINT  NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 9007199254740991),
    PRIMARY KEY (order_id, line)              -- also the index for "items of an order"
)
-- bastion:dialect sqlite
WITHOUT ROWID
-- bastion:end
;

-- How an order was paid: written by stripe-webhook in the same transaction
-- as the order's pending → paid change and the confirmation's outbox row
-- (CONC5). One payment per order (the key) and per Checkout Session
-- (UNIQUE): a redelivered event can never pay twice.
CREATE TABLE IF NOT EXISTS order_payments (
    order_id            TEXT    NOT NULL PRIMARY KEY REFERENCES orders (id),
    checkout_session_id TEXT    NOT NULL UNIQUE
                                CHECK (length(checkout_session_id) BETWEEN 4 AND 255
                                       AND substr(checkout_session_id, 1, 3) = 'cs_'),
    amount_total_cents  BIGINT  NOT NULL CHECK (amount_total_cents BETWEEN 0 AND 9007199254740991),
    currency            TEXT    NOT NULL CHECK (length(currency) = 3),
    paid_at             BIGINT  NOT NULL CHECK (paid_at BETWEEN 0 AND 253402300799999),
-- bastion:dialect sqlite
    CHECK (currency GLOB '[A-Z][A-Z][A-Z]')
) WITHOUT ROWID;
-- bastion:end
-- bastion:dialect postgres
    CHECK (currency ~ '^[A-Z][A-Z][A-Z]$')
);
-- bastion:end

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
