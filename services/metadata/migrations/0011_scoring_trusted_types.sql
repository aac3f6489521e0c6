-- Types the predictor workers of a scoring test's runs trust in skops files beyond skops'
-- defaults (as a batch scoring job's: the deploy service passes them to the workers), sorted.
ALTER TABLE scoring_tests ADD COLUMN trusted_types text[] NOT NULL DEFAULT '{}';
