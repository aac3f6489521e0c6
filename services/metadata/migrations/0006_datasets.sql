-- Datasets (docs/scoring.md): versioned, immutable tables whose bytes the registry holds, with the
-- schema and row count it read from them, and their lineage to model versions.
CREATE TABLE datasets (
    id             bigserial PRIMARY KEY,
    project_id     bigint NOT NULL REFERENCES projects (id),
    project        text NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    created_by     text NOT NULL DEFAULT '',
    -- Highest version number handed out; bumped under the row lock, so numbers never repeat.
    latest_version bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project, name)
);

CREATE TABLE dataset_versions (
    id             bigserial PRIMARY KEY,
    dataset_id     bigint NOT NULL REFERENCES datasets (id),
    project        text NOT NULL,
    dataset        text NOT NULL,
    version        bigint NOT NULL CHECK (version > 0),
    format         text NOT NULL CHECK (format IN ('PARQUET', 'CSV')),
    description    text NOT NULL DEFAULT '',
    tags           jsonb NOT NULL DEFAULT '{}',
    author         text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('PENDING_UPLOAD', 'READY', 'FAILED')),
    status_message text NOT NULL DEFAULT '',
    -- {"files": [{"path", "size", "sha256", "storage_key", "content_type"}], "total_size"}
    artifact       jsonb NOT NULL DEFAULT '{}',
    -- [{"name", "type"}] in the table's order; also in dataset_columns, for search.
    columns        jsonb NOT NULL DEFAULT '[]',
    row_count      bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project, dataset, version)
);
CREATE INDEX dataset_versions_ready ON dataset_versions (project, dataset, version DESC) WHERE status = 'READY';

-- The columns of READY versions, one row each: "which datasets have a column X (of type T)".
CREATE TABLE dataset_columns (
    version_id bigint NOT NULL REFERENCES dataset_versions (id),
    position   int NOT NULL,
    name       text NOT NULL,
    type       text NOT NULL,
    PRIMARY KEY (version_id, position)
);
CREATE INDEX dataset_columns_name ON dataset_columns (name, type, version_id DESC);

-- How a model version used a dataset version: TRAINED_ON, TESTED_ON, or the dataset version was
-- PRODUCED_BY it.
CREATE TABLE dataset_links (
    model_version_id   bigint NOT NULL REFERENCES model_versions (id),
    dataset_version_id bigint NOT NULL REFERENCES dataset_versions (id),
    use                text NOT NULL CHECK (use IN ('TRAINED_ON', 'TESTED_ON', 'PRODUCED_BY')),
    created_by         text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_version_id, dataset_version_id, use)
);
CREATE INDEX dataset_links_dataset ON dataset_links (dataset_version_id);
