-- Webhooks (docs/scoring.md): subscriptions to a project's events, and their deliveries. The
-- audit log is the outbox: each audit event that a subscription matches queues a delivery in the
-- same transaction (the trigger below), so no committed change can be missed, whatever process dies.
CREATE TABLE webhook_subscriptions (
    id           uuid PRIMARY KEY,
    project      text NOT NULL REFERENCES projects (name),
    url          text NOT NULL,
    -- The event kinds asked for ('{}': all), and the audit actions they match (what the trigger reads).
    kinds        text[] NOT NULL DEFAULT '{}',
    actions      text[] NOT NULL,
    description  text NOT NULL DEFAULT '',
    active       boolean NOT NULL DEFAULT true,
    -- Sealed with the service's webhook_secret_key when it has one (storage/webhooks.py).
    secret           bytea NOT NULL,
    previous_secret  bytea,
    previous_secret_expires_at timestamptz,
    failing_since timestamptz,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The replica sending this subscription's deliveries, until lease_until (one at a time).
    lease_owner  text NOT NULL DEFAULT '',
    lease_until  timestamptz
);
CREATE INDEX webhook_subscriptions_project ON webhook_subscriptions (project) WHERE active;

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES audit_events (id),
    delivered       boolean NOT NULL DEFAULT false,
    attempts        integer NOT NULL DEFAULT 0,
    response_code   integer NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
-- A subscription's queue, in the order it is sent; and its log, newest first.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, event_id, id) WHERE NOT delivered;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id DESC);

CREATE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (subscription_id, event_id)
    SELECT s.id, NEW.id FROM webhook_subscriptions s
    WHERE s.project = NEW.project AND s.active AND NEW.action = ANY (s.actions);
    IF FOUND THEN
        PERFORM pg_notify('modelyard_webhooks', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_webhooks AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION webhook_enqueue();
