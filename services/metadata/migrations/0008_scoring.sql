-- Score logic and scoring tests (docs/scoring.md): a model's score definition, its scoring tests,
-- and every run of them. The deploy service's leader executes the runs (ClaimScoringRuns leases
-- them, RecordScoringResult records them); this schema only keeps them.
CREATE TABLE score_definitions (
    model_id   bigint PRIMARY KEY REFERENCES models (id),
    -- {"task", "inputs": [{"input", "columns"}], "prediction_output", "probability_output",
    --  "label_column", "metrics", "average", "positive_label", "thresholds": [{"metric", "min", "max"}]}
    definition jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scoring_tests (
    id                uuid PRIMARY KEY,
    model_id          bigint NOT NULL REFERENCES models (id),
    project           text NOT NULL,
    model             text NOT NULL,
    name              text NOT NULL,
    -- The target: exactly one of a version number, an alias, or every new version.
    target_version    bigint CHECK (target_version > 0),
    target_alias      text,
    every_new_version boolean NOT NULL DEFAULT false,
    CHECK (num_nonnulls(target_version, target_alias) + every_new_version::int = 1),
    -- Canonical PROJECT/DATASET:N (pinned, so that runs compare).
    dataset           text NOT NULL,
    schedule          text NOT NULL DEFAULT '',
    -- The next cron tick to run (NULL without a schedule); advanced by ClaimScoringRuns.
    next_run_at       timestamptz,
    active            boolean NOT NULL DEFAULT true,
    required_for      text[] NOT NULL DEFAULT '{}',
    description       text NOT NULL DEFAULT '',
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_id, name)
);
CREATE INDEX scoring_tests_due ON scoring_tests (next_run_at) WHERE active AND next_run_at IS NOT NULL;
CREATE INDEX scoring_tests_project ON scoring_tests (project, model, name);

CREATE TABLE scoring_runs (
    id               uuid PRIMARY KEY,
    -- No foreign key: a deleted test's runs (and the metrics they logged) stay.
    test_id          uuid NOT NULL,
    test_name        text NOT NULL,
    model_id         bigint NOT NULL REFERENCES models (id),
    project          text NOT NULL,
    -- The version scored: set when queued for a version, when leased for an alias or a schedule.
    version_id       bigint REFERENCES model_versions (id),
    -- What to resolve at lease time when version_id is NULL: this alias, or (NULL) the latest READY version.
    target_alias     text,
    dataset          text NOT NULL,
    state            text NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'PASSED', 'FAILED', 'ERROR')),
    trigger          text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'version.ready', 'alias.moved')),
    scheduled_for    timestamptz,
    requested_by     text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    -- The lease: who runs it, the how-many-th lease this is, until when.
    runner           text NOT NULL DEFAULT '',
    attempt          integer NOT NULL DEFAULT 0,
    lease_until      timestamptz,
    rows             bigint NOT NULL DEFAULT 0,
    duration_seconds double precision NOT NULL DEFAULT 0,
    -- [{"name", "number" | "structured", "step", "time"}]
    metrics          jsonb NOT NULL DEFAULT '[]',
    message          text NOT NULL DEFAULT ''
);
-- A test never runs twice for one cron tick, whoever queues it.
CREATE UNIQUE INDEX scoring_runs_tick ON scoring_runs (test_id, scheduled_for) WHERE trigger = 'schedule';
CREATE INDEX scoring_runs_open ON scoring_runs (created_at, id) WHERE state IN ('QUEUED', 'RUNNING');
CREATE INDEX scoring_runs_test ON scoring_runs (test_id, created_at DESC, id DESC);
CREATE INDEX scoring_runs_version ON scoring_runs (version_id, created_at DESC, id DESC);

-- Metric history keeps the run that logged a value (NULL: logged by a client).
ALTER TABLE metric_points ADD COLUMN scoring_run_id uuid REFERENCES scoring_runs (id);

-- Event triggers: a version turning READY queues a run of each active every_new_version test of
-- its model, an alias set queues one of each active test of that alias, in the transaction of the
-- change (the audit event is written in it), so no event is lost whatever process dies.
CREATE FUNCTION scoring_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v model_versions%ROWTYPE;
    alias_name text;
BEGIN
    IF NEW.action = 'version.ready' OR (NEW.action = 'version.create' AND NEW.after ->> 'status' = 'READY') THEN
        -- resource: PROJECT/MODEL:N (names hold neither '/' nor ':').
        SELECT * INTO v FROM model_versions
        WHERE project = NEW.project AND model = split_part(split_part(NEW.resource, '/', 2), ':', 1)
          AND version = split_part(NEW.resource, ':', 2)::bigint;
        IF FOUND THEN
            INSERT INTO scoring_runs (id, test_id, test_name, model_id, project, version_id, dataset, state,
                                      trigger, requested_by)
            SELECT gen_random_uuid(), t.id, t.name, t.model_id, t.project, v.id, t.dataset, 'QUEUED',
                   'version.ready', NEW.actor
            FROM scoring_tests t WHERE t.model_id = v.model_id AND t.active AND t.every_new_version;
        END IF;
    ELSIF NEW.action = 'alias.set' THEN
        -- resource: PROJECT/MODEL@ALIAS; after: {"version": N}.
        alias_name := split_part(NEW.resource, '@', 2);
        SELECT * INTO v FROM model_versions
        WHERE project = NEW.project AND model = split_part(split_part(NEW.resource, '/', 2), '@', 1)
          AND version = (NEW.after ->> 'version')::bigint;
        IF FOUND THEN
            INSERT INTO scoring_runs (id, test_id, test_name, model_id, project, version_id, dataset, state,
                                      trigger, requested_by)
            SELECT gen_random_uuid(), t.id, t.name, t.model_id, t.project, v.id, t.dataset, 'QUEUED',
                   'alias.moved', NEW.actor
            FROM scoring_tests t WHERE t.model_id = v.model_id AND t.active AND t.target_alias = alias_name;
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_scoring AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.action IN ('version.ready', 'version.create', 'alias.set'))
    EXECUTE FUNCTION scoring_enqueue();
