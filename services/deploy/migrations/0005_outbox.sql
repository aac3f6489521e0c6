-- Events of what the deploy service keeps (deployment changes; later, jobs) for the metadata
-- service's audit log, where webhooks pick them up. Each is written in the same transaction as
-- its change; the leader forwards them in id order (RecordServiceEvents, which records each id
-- once) and then deletes them, so a crash between the two only repeats a forward.
CREATE TABLE deploy.outbox (
    id         bigserial PRIMARY KEY,
    action     text NOT NULL,
    project    text NOT NULL,
    resource   text NOT NULL,
    actor      text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    details    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The outbox's name for the metadata service, which records each (origin, id) once: ids start
-- again at 1 in another deploy database (a new installation, a test's own), and must not be
-- taken for events already recorded.
CREATE TABLE deploy.outbox_origin AS SELECT gen_random_uuid()::text AS id;
