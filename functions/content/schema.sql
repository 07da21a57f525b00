-- content: one row per page. `version` is the ETag ("v<version>"); every
-- write is a single statement guarded on it (CONC6), so the CHECKs below are
-- the last word on what content.c already validates (DATA1). The slug's
-- alphabet is one rule in each dialect's pattern syntax.
CREATE TABLE IF NOT EXISTS pages (
    slug        TEXT    NOT NULL PRIMARY KEY CHECK (length(slug) BETWEEN 1 AND 64),
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 50000),
    version     BIGINT  NOT NULL CHECK (version >= 1),
    updated_at  BIGINT  NOT NULL,            -- epoch ms, UTC (DATA2)
    updated_by  TEXT    NOT NULL,            -- the admin token's sub
-- bastion:dialect sqlite
    CHECK (slug NOT GLOB '*[^A-Za-z0-9_-]*')
) WITHOUT ROWID;
-- bastion:end
-- bastion:dialect postgres
    CHECK (slug !~ '[^A-Za-z0-9_-]')
);
-- bastion:end
-- every query is by slug: the primary key is the index
