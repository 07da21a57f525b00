-- content: one row per page. `version` is the ETag ("v<version>"); every
-- write is a single statement guarded on it (CONC6), so the CHECKs below are
-- the last word on what content.c already validates (DATA1).
CREATE TABLE IF NOT EXISTS pages (
    slug        TEXT    PRIMARY KEY
                        CHECK (length(slug) BETWEEN 1 AND 64 AND slug NOT GLOB '*[^A-Za-z0-9_-]*'),
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 50000),
    version     INTEGER NOT NULL CHECK (version >= 1),
    updated_at  INTEGER NOT NULL,            -- epoch ms, UTC (DATA2)
    updated_by  TEXT    NOT NULL             -- the admin token's sub
) WITHOUT ROWID;
-- every query is by slug: the primary key is the index
