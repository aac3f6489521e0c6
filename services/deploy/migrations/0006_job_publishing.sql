-- When a job began registering its output version (its chunks all scored and merged): from then
-- on it is no longer cancelled (CancelJob says so) and it ends SUCCEEDED, or FAILED if the
-- registration is refused. Set in the statement that checks the job is not CANCELLING, so that
-- a cancel and the registration never both win (docs/scoring.md, "Cancel").
ALTER TABLE deploy.jobs ADD COLUMN publishing_at timestamptz;
