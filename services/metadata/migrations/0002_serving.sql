-- How an inference server runs a version: a CUSTOM model's entry point, an ENSEMBLE's method
-- and members. {} for STANDARD models.
ALTER TABLE model_versions ADD COLUMN serving jsonb NOT NULL DEFAULT '{}';
