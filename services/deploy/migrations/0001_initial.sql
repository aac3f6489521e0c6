-- The deploy service's state, in its schema: what each deployment wants (its current revision
-- and number of replicas), the revisions it went through, and the replicas running for it.

CREATE TABLE deploy.deployments (
    name             text PRIMARY KEY,
    project          text NOT NULL,
    model_reference  text NOT NULL,
    version_reference text NOT NULL,
    replicas         integer NOT NULL CHECK (replicas BETWEEN 0 AND 16),
    runtime          text NOT NULL,
    state            text NOT NULL,
    status_message   text NOT NULL DEFAULT '',
    -- The revision asked for, and the last one whose replicas all became ready (0: none yet).
    revision         bigint NOT NULL,
    serving_revision bigint NOT NULL DEFAULT 0,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployments_project ON deploy.deployments (project, name);

CREATE TABLE deploy.revisions (
    deployment        text NOT NULL REFERENCES deploy.deployments (name) ON DELETE CASCADE,
    revision          bigint NOT NULL,
    model_reference   text NOT NULL,
    version_reference text NOT NULL,
    actor             text NOT NULL,
    reason            text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment, revision)
);

-- What the reconciler last saw of each replica; pid is the process runtime's handle, used at
-- start to find (and stop) replicas a previous run of the service left behind.
CREATE TABLE deploy.replicas (
    deployment text NOT NULL REFERENCES deploy.deployments (name) ON DELETE CASCADE,
    id         text NOT NULL,
    revision   bigint NOT NULL,
    state      text NOT NULL,
    endpoint   text NOT NULL DEFAULT '',
    restarts   integer NOT NULL DEFAULT 0,
    failures   integer NOT NULL DEFAULT 0,
    message    text NOT NULL DEFAULT '',
    pid        integer NOT NULL DEFAULT 0,
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment, id)
);
