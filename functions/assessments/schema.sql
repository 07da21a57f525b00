-- hiring: assessments and the invitations to take them. The CHECKs are the
-- rules assessments.c validates, enforced again here (DATA1). Every row
-- carries its tenant and every query names it (AUTH5). Times are epoch ms
-- UTC (DATA2) in BIGINT (64 bits on PostgreSQL, INTEGER to SQLite).

-- An assessment: its questions as JSON text, answer key included (the
-- server's own, never shown to a candidate). question_count lets lists
-- report the size without parsing every row's questions.
CREATE TABLE IF NOT EXISTS assessments (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant         TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 255),
    title          TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    questions      TEXT    NOT NULL CHECK (length(questions) >= 2),
    question_count BIGINT  NOT NULL CHECK (question_count BETWEEN 1 AND 50),
    created_at     BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999)
);
-- GET /api/assessments: a tenant's list in keyset order (DATA4)
CREATE INDEX IF NOT EXISTS assessments_tenant_created ON assessments (tenant, created_at, id);

-- An invitation: sent → submitted once, by the guarded UPDATE in
-- assessments.c. 'expired' is what a reader reports for a sent invitation
-- past expires_at (and what a clean-up job may store); score and answers
-- exist exactly when it was submitted.
CREATE TABLE IF NOT EXISTS invitations (
    id              TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant          TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 255),
    assessment_id   TEXT    NOT NULL REFERENCES assessments (id),
    candidate_email TEXT    NOT NULL CHECK (length(candidate_email) BETWEEN 3 AND 254),
    candidate_name  TEXT    NOT NULL CHECK (length(candidate_name) BETWEEN 1 AND 100),
    status          TEXT    NOT NULL DEFAULT 'sent'
                            CHECK (status IN ('sent', 'submitted', 'expired')),
    expires_at      BIGINT  NOT NULL CHECK (expires_at BETWEEN 0 AND 253402300799999),
    score           BIGINT           CHECK (score IS NULL OR score BETWEEN 0 AND 100),
    answers         TEXT,
    created_at      BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999),
    submitted_at    BIGINT,
    email_sent      BIGINT  NOT NULL DEFAULT 0 CHECK (email_sent IN (0, 1)),
    email_error     TEXT,
    CHECK ((status = 'submitted') = (score IS NOT NULL)),
    CHECK ((status = 'submitted') = (answers IS NOT NULL)),
    CHECK ((status = 'submitted') = (submitted_at IS NOT NULL))
);
-- GET /api/assessments/invitations, all of a tenant's and by status (DATA4);
-- the candidate's link and GET …/{id} go by the primary key
CREATE INDEX IF NOT EXISTS invitations_tenant_created ON invitations (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS invitations_tenant_status
    ON invitations (tenant, status, created_at, id);
-- the foreign key's lookups
CREATE INDEX IF NOT EXISTS invitations_assessment ON invitations (assessment_id);

-- The email outbox (REL4).
-- bastion:include ../../shared/schema/email_failures.sql
