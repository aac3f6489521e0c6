-- Several deploy services share these tables, one of them (the leader) reconciling. Any of them
-- changes what a deployment wants (create, update, rollback, scale, delete), which bumps
-- generation; the leader's pass records the generation it acted on, which the change's RPC
-- waits for.
ALTER TABLE deploy.deployments
    ADD COLUMN generation bigint NOT NULL DEFAULT 1,
    ADD COLUMN observed_generation bigint NOT NULL DEFAULT 0;
