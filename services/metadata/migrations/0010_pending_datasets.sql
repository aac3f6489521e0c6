-- The registry's sweeper asks for the dataset versions still PENDING_UPLOAD, by id, every few
-- minutes: this index holds only those, so the question costs the same with a million READY ones.
CREATE INDEX dataset_versions_pending ON dataset_versions (id) WHERE status = 'PENDING_UPLOAD';
