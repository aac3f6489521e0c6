-- Types a revision's inference servers trust in skops files beyond skops' defaults (passed to
-- them as MLREG_SERVING_TRUSTED_TYPES). A revision's, not the deployment's: a change of them is
-- a change of what is served, rolled out and recorded like a change of version.
ALTER TABLE deploy.revisions ADD COLUMN trusted_types text[] NOT NULL DEFAULT '{}';
