-- What reads of versions need beside their rows: the latest number of each metric in a table that
-- ordering by a metric can walk, and each version's message as the api layer serializes it.

-- The latest value of each numeric metric of a version: the "number" of each entry of
-- model_versions.metrics that has one, kept equal to it by the triggers below, so that a search
-- ordered by a metric walks version_metrics_order instead of sorting every matching version.
CREATE TABLE version_metrics (
    version_id bigint NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
    name       text NOT NULL,
    number     double precision NOT NULL,
    PRIMARY KEY (version_id, name)
);
-- Read forwards for ascending order, backwards for descending (version_id breaks ties).
CREATE INDEX version_metrics_order ON version_metrics (name, number, version_id);

-- The rows of version_metrics for version $1 whose metrics are $2.
CREATE FUNCTION version_metrics_of(bigint, jsonb)
RETURNS TABLE (version_id bigint, name text, number double precision) LANGUAGE sql IMMUTABLE AS $$
    SELECT $1, m.key, (m.value ->> 'number')::float8
    FROM jsonb_each($2) m WHERE jsonb_typeof(m.value -> 'number') = 'number'
$$;

CREATE FUNCTION version_metrics_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO version_metrics SELECT f.* FROM added, version_metrics_of(added.id, added.metrics) f;
    RETURN NULL;
END $$;
-- One statement per INSERT (or COPY), whatever the number of rows.
CREATE TRIGGER model_versions_metrics_inserted AFTER INSERT ON model_versions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION version_metrics_inserted();

CREATE FUNCTION version_metrics_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM version_metrics WHERE version_id = NEW.id;
    INSERT INTO version_metrics SELECT * FROM version_metrics_of(NEW.id, NEW.metrics);
    RETURN NULL;
END $$;
CREATE TRIGGER model_versions_metrics_updated AFTER UPDATE OF metrics ON model_versions
    FOR EACH ROW WHEN (OLD.metrics IS DISTINCT FROM NEW.metrics) EXECUTE FUNCTION version_metrics_updated();

INSERT INTO version_metrics SELECT f.* FROM model_versions v, version_metrics_of(v.id, v.metrics) f;

-- Each version's ModelVersion message as the metadata service's api layer serialized it from its
-- row, without its aliases and produced_by (they live in other tables and are appended when read):
-- reads answer with these bytes instead of building the message again. A version without one
-- (written before this migration, or by anything but the service) is encoded from its row when
-- read, and by the service at start. Any UPDATE of the version removes it, so that it never
-- outlives a change of the row; the service writes it again in the same transaction. A release
-- that changes the encoding empties this table in a migration of its own.
CREATE TABLE version_wire (
    version_id bigint PRIMARY KEY REFERENCES model_versions (id) ON DELETE CASCADE,
    message    bytea NOT NULL
);

CREATE FUNCTION version_wire_outdated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM version_wire WHERE version_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER model_versions_wire_outdated AFTER UPDATE ON model_versions
    FOR EACH ROW EXECUTE FUNCTION version_wire_outdated();
