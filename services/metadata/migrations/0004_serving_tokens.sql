-- Serving credentials (docs/security.md): a token with a scope reads only the versions it names
-- (an inference server's version and an ensemble's members), read-only, until it expires.
ALTER TABLE tokens ADD COLUMN scope text[];
CREATE INDEX tokens_scoped_expiry ON tokens (expires_at) WHERE scope IS NOT NULL;
