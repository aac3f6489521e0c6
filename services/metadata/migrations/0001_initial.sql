-- Projects, models, versions, aliases, lineage, metrics and the audit log.
-- Names are immutable, so versions carry their project and model names for references and search.

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    owner       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id             bigserial PRIMARY KEY,
    project_id     bigint NOT NULL REFERENCES projects (id),
    project        text NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    owner          text NOT NULL DEFAULT '',
    team           text NOT NULL DEFAULT '',
    kind           text NOT NULL CHECK (kind IN ('STANDARD', 'CUSTOM', 'ENSEMBLE')),
    tags           jsonb NOT NULL DEFAULT '{}',
    code_location  jsonb NOT NULL DEFAULT '{}',
    data_location  jsonb NOT NULL DEFAULT '{}',
    archived       boolean NOT NULL DEFAULT false,
    -- Highest version number handed out; bumped under the row lock, so numbers never repeat.
    latest_version bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE model_versions (
    id             bigserial PRIMARY KEY,
    model_id       bigint NOT NULL REFERENCES models (id),
    project        text NOT NULL,
    model          text NOT NULL,
    version        bigint NOT NULL CHECK (version > 0),
    stage          text NOT NULL CHECK (stage IN ('DEVELOPMENT', 'VALIDATION', 'PRODUCTION', 'ARCHIVED')),
    status         text NOT NULL CHECK (status IN ('PENDING_UPLOAD', 'READY', 'FAILED')),
    status_message text NOT NULL DEFAULT '',
    framework      text NOT NULL DEFAULT '',
    payload_format text NOT NULL DEFAULT '',
    author         text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    -- {"inputs": [{"name", "datatype", "shape"}], "outputs": [...]}
    signature      jsonb NOT NULL DEFAULT '{}',
    -- Hyperparameters, free-form JSON object.
    params         jsonb NOT NULL DEFAULT '{}',
    -- [{"library", "version", "scope": "BUILD" | "RUN"}]
    dependencies   jsonb NOT NULL DEFAULT '[]',
    code_location  jsonb NOT NULL DEFAULT '{}',
    data_location  jsonb NOT NULL DEFAULT '{}',
    tags           jsonb NOT NULL DEFAULT '{}',
    -- Latest value of each metric: {"accuracy": {"number": 0.93, "step": 3, "time": "..."},
    --                               "importance": {"structured": {...}, "step": 0, "time": "..."}}
    metrics        jsonb NOT NULL DEFAULT '{}',
    -- {"files": [{"path", "size", "sha256", "storage_key", "content_type"}], "total_size"}
    artifact       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_id, version)
);
CREATE UNIQUE INDEX model_versions_reference ON model_versions (project, model, version);
CREATE INDEX model_versions_created ON model_versions (created_at DESC, id DESC);
CREATE INDEX model_versions_stage ON model_versions (stage, created_at DESC, id DESC);
CREATE INDEX model_versions_project ON model_versions (project, created_at DESC, id DESC);
CREATE INDEX model_versions_ready ON model_versions (project, model, version DESC) WHERE status = 'READY';
CREATE INDEX model_versions_tags ON model_versions USING gin (tags jsonb_path_ops);
CREATE INDEX model_versions_params ON model_versions USING gin (params jsonb_path_ops);

-- produced_by edges: the output of parent_id feeds version_id.
CREATE TABLE version_lineage (
    version_id bigint NOT NULL REFERENCES model_versions (id),
    parent_id  bigint NOT NULL REFERENCES model_versions (id),
    PRIMARY KEY (version_id, parent_id),
    CHECK (version_id <> parent_id)
);
CREATE INDEX version_lineage_parent ON version_lineage (parent_id);

CREATE TABLE aliases (
    model_id   bigint NOT NULL REFERENCES models (id),
    alias      text NOT NULL,
    version_id bigint NOT NULL REFERENCES model_versions (id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, alias)
);
CREATE INDEX aliases_version ON aliases (version_id);

-- Every logged metric value, so that history (and decay) can be read back.
CREATE TABLE metric_points (
    id         bigserial PRIMARY KEY,
    version_id bigint NOT NULL REFERENCES model_versions (id),
    name       text NOT NULL,
    number     double precision,
    structured jsonb,
    step       bigint NOT NULL DEFAULT 0,
    time       timestamptz NOT NULL,
    CHECK ((number IS NULL) <> (structured IS NULL))
);
CREATE INDEX metric_points_series ON metric_points (version_id, name, step, time);

CREATE TABLE audit_events (
    id         bigserial PRIMARY KEY,
    time       timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    project    text NOT NULL DEFAULT '',
    resource   text NOT NULL,
    before     jsonb,
    after      jsonb,
    reason     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_project ON audit_events (project, id DESC);
CREATE INDEX audit_events_resource ON audit_events (resource text_pattern_ops, id DESC);

-- The audit log is append-only: rows can be inserted, never changed or removed.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
