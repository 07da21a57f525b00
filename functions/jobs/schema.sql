-- hiring: jobs, their candidates and reviewer invitations (functions/jobs).
-- The CHECKs are the rules jobs.c validates, enforced again here (DATA1).
-- Every row carries its tenant and every query names it (AUTH5). Times are
-- epoch ms UTC (DATA2) in BIGINT. The assessments function's tables share
-- this database; neither touches the other's.

-- A job posting; skills as a JSON array of strings. source_url is the page
-- it was imported from (POST /api/jobs/import), NULL when posted directly.
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant      TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 255),
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description TEXT    NOT NULL CHECK (length(description) BETWEEN 1 AND 20000),
    skills      TEXT    NOT NULL CHECK (length(skills) >= 4),
    source_url  TEXT             CHECK (source_url IS NULL OR length(source_url) <= 2048),
    created_at  BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999)
);
-- GET /api/jobs: a tenant's list in keyset order (DATA4)
CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at, id);

-- A candidate for one job. match_score and matched_at are the last scores
-- the matching provider gave (both or neither); decision, decided_at and
-- decision_note are the reviewer's, set once by the guarded UPDATE of
-- POST /api/jobs/action.
CREATE TABLE IF NOT EXISTS candidates (
    id               TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant           TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 255),
    job_id           TEXT    NOT NULL REFERENCES jobs (id),
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email            TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    skills           TEXT    NOT NULL CHECK (length(skills) >= 2),
    years_experience BIGINT  NOT NULL CHECK (years_experience BETWEEN 0 AND 60),
    created_at       BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999),
    match_score      DOUBLE PRECISION CHECK (match_score IS NULL OR
                                             (match_score >= 0 AND match_score <= 100)),
    matched_at       BIGINT,
    decision         TEXT             CHECK (decision IS NULL OR decision IN ('advance', 'reject')),
    decision_note    TEXT             CHECK (decision_note IS NULL OR length(decision_note) <= 2000),
    decided_at       BIGINT,
    CHECK ((match_score IS NULL) = (matched_at IS NULL)),
    CHECK ((decision IS NULL) = (decided_at IS NULL)),
    CHECK (decision_note IS NULL OR decision IS NOT NULL)
);
-- one candidate per email per job: the insert's ON CONFLICT target
CREATE UNIQUE INDEX IF NOT EXISTS candidates_job_email ON candidates (job_id, email);
-- GET /api/jobs/{id}/candidates in keyset order (DATA4); the match reads
-- the same index's job prefix
CREATE INDEX IF NOT EXISTS candidates_job_created ON candidates (job_id, tenant, created_at, id);

-- Who was asked to review a candidate, and whether the email went (REL4).
CREATE TABLE IF NOT EXISTS reviewer_invites (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    tenant         TEXT    NOT NULL CHECK (length(tenant) BETWEEN 1 AND 255),
    job_id         TEXT    NOT NULL REFERENCES jobs (id),
    candidate_id   TEXT    NOT NULL REFERENCES candidates (id),
    reviewer_email TEXT    NOT NULL CHECK (length(reviewer_email) BETWEEN 3 AND 254),
    expires_at     BIGINT  NOT NULL CHECK (expires_at BETWEEN 0 AND 253402300799999),
    created_at     BIGINT  NOT NULL CHECK (created_at BETWEEN 0 AND 253402300799999)
);
-- the foreign keys' lookups
CREATE INDEX IF NOT EXISTS reviewer_invites_candidate ON reviewer_invites (candidate_id);
CREATE INDEX IF NOT EXISTS reviewer_invites_job ON reviewer_invites (job_id);

-- The email outbox (REL4), shared with assessments in this database.
-- bastion:include ../../shared/schema/email_failures.sql
