-- The webhook event ledger (HOOK3, HOOK5) of shared/src/webhook_event.c:
-- one row per provider event, so a processed event is never processed again
-- even when the kv claim is gone. Included by each webhook function's schema.sql.
CREATE TABLE IF NOT EXISTS webhook_events (
    provider     TEXT    NOT NULL CHECK (length(provider) BETWEEN 1 AND 32),
    id           TEXT    NOT NULL CHECK (length(id) BETWEEN 1 AND 255),
    type         TEXT    NOT NULL CHECK (length(type) BETWEEN 1 AND 255),
    status       TEXT    NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
    attempts     BIGINT  NOT NULL CHECK (attempts >= 1),
    error        TEXT,
    received_at  BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    processed_at BIGINT,
    PRIMARY KEY (provider, id)
);
CREATE INDEX IF NOT EXISTS webhook_events_status ON webhook_events (status, updated_at);
