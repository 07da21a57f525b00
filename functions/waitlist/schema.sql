-- waitlist: one row per (email, product); the UNIQUE constraint is what makes
-- joining idempotent under concurrency (DATA1).
CREATE TABLE IF NOT EXISTS waitlist (
    id          INTEGER PRIMARY KEY,
    email       TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    product_id  TEXT    NOT NULL CHECK (length(product_id) BETWEEN 1 AND 64),
    created_at  INTEGER NOT NULL,            -- epoch ms, UTC (DATA2)
    UNIQUE (email, product_id)
);
CREATE INDEX IF NOT EXISTS waitlist_product ON waitlist (product_id);
