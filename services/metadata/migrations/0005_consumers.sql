-- Who consumes each version (docs/metadata.md): a principal whose download of it the registry, or
-- whose deployment of it the deploy service, asked Authorize about and was granted. One row per
-- (version, principal, kind, detail); last_at moves forward at most once a minute.
CREATE TABLE version_consumers (
    version_id bigint NOT NULL REFERENCES model_versions (id),
    principal  text NOT NULL REFERENCES principals (name),
    kind       text NOT NULL CHECK (kind IN ('DOWNLOAD', 'DEPLOYMENT')),
    -- DEPLOYMENT: the deployment's name; '' for a DOWNLOAD.
    detail     text NOT NULL DEFAULT '',
    first_at   timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, principal, kind, detail)
);
