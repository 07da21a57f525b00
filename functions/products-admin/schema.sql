-- products: the catalogue's items. This function only sets image_url on an
-- existing row (unknown id → 404); the CHECKs repeat what the code checks
-- (DATA1). Every query is by id: the primary key is the index. The id's
-- alphabet is one rule in each dialect's pattern syntax; times are BIGINT
-- (64 bits on PostgreSQL, INTEGER to SQLite).
CREATE TABLE IF NOT EXISTS products (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    image_url   TEXT    CHECK (image_url IS NULL OR
                               (length(image_url) BETWEEN 9 AND 2048 AND
                                lower(substr(image_url, 1, 8)) = 'https://')),
    created_at  BIGINT  NOT NULL,            -- epoch ms, UTC (DATA2)
    updated_at  BIGINT  NOT NULL,            -- epoch ms, UTC (DATA2)
-- bastion:dialect sqlite
    CHECK (id NOT GLOB '*[^A-Za-z0-9_-]*')
) WITHOUT ROWID;
-- bastion:end
-- bastion:dialect postgres
    CHECK (id !~ '[^A-Za-z0-9_-]')
);
-- bastion:end
