-- Batch scoring jobs, run by the leading deploy service: what each asks for and where it is,
-- and the chunks it finished (each once: a resumed job skips them). Its events (who created or
-- cancelled it and why, how it finished) go to the outbox (0005). seq orders a project's jobs, newest first.
CREATE TABLE deploy.jobs (
    id                text PRIMARY KEY,
    seq               bigserial UNIQUE,
    project           text NOT NULL,
    model_reference   text NOT NULL,
    version_reference text NOT NULL,
    input_dataset     text NOT NULL,
    key_column        text NOT NULL,
    -- [{"name": ..., "columns": [...], "datatype": ...}]
    inputs            jsonb NOT NULL,
    output_dataset    text NOT NULL,
    chunk_rows        bigint NOT NULL CHECK (chunk_rows > 0),
    workers           integer NOT NULL CHECK (workers BETWEEN 1 AND 16),
    -- Types its workers trust in skops files beyond skops' defaults.
    trusted_types     text[] NOT NULL DEFAULT '{}',
    state             text NOT NULL,
    chunks_total      bigint NOT NULL,
    rows_total        bigint NOT NULL,
    output_version    text NOT NULL DEFAULT '',
    error             text NOT NULL DEFAULT '',
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX jobs_project ON deploy.jobs (project, seq DESC);
CREATE INDEX jobs_unfinished ON deploy.jobs (seq) WHERE state IN ('QUEUED', 'RUNNING', 'CANCELLING');

CREATE TABLE deploy.job_chunks (
    job         text NOT NULL REFERENCES deploy.jobs (id) ON DELETE CASCADE,
    index       bigint NOT NULL,
    rows        bigint NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, index)
);
