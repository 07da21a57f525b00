-- orders: written by the payments work, read by GET /api/orders/{id}.
-- The CHECKs are the same rules the writers validate (DATA1); money is
-- integer cents, time is epoch ms UTC (DATA2).
CREATE TABLE IF NOT EXISTS orders (
    id           TEXT    PRIMARY KEY
                         CHECK (length(id) BETWEEN 1 AND 64 AND id NOT GLOB '*[^A-Za-z0-9_-]*'),
    user_id      TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255), -- the owner's token sub
    status       TEXT    NOT NULL
                         CHECK (status IN ('pending', 'paid', 'failed', 'fulfilled', 'cancelled',
                                           'refunded')),
    total_cents  INTEGER NOT NULL CHECK (total_cents BETWEEN 0 AND 9007199254740991),
    currency     TEXT    NOT NULL CHECK (length(currency) = 3 AND currency GLOB '[A-Z][A-Z][A-Z]'),
    created_at   INTEGER NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999),
    updated_at   INTEGER NOT NULL CHECK (updated_at BETWEEN 0 AND 253402300799999)
) WITHOUT ROWID;
-- a user's orders (list pages, the payments work's lookups)
CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, created_at);

CREATE TABLE IF NOT EXISTS order_items (
    order_id          TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line              INTEGER NOT NULL CHECK (line BETWEEN 1 AND 1000),
    sku               TEXT    NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name              TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    quantity          INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price_cents  INTEGER NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 9007199254740991),
    PRIMARY KEY (order_id, line)              -- also the index for "items of an order"
) WITHOUT ROWID;
