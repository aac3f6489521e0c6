-- Events the deploy service forwards from its outbox (deployment.changed, job.finished): each
-- source id is recorded once, in the same transaction as its audit event, so a forward repeated
-- after a crash adds nothing.
CREATE TABLE service_events (
    service   text NOT NULL,
    -- The outbox (one per deploy database): its ids start again in another one.
    origin    text NOT NULL,
    source_id bigint NOT NULL,
    PRIMARY KEY (service, origin, source_id)
);
