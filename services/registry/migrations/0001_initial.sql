-- The registry's own state, in its schema: upload sessions, the files uploaded for each
-- version, and the content-addressed blobs they point at. Versions themselves (and whether
-- they are READY) live in the metadata service.

-- A stored blob: one S3 object per distinct content.
CREATE TABLE registry.blobs (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    storage_key text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A verified file of a version: (version, path) -> blob. "ready" caches that the metadata
-- service has the version READY; the reconciler asks metadata before trusting its absence.
CREATE TABLE registry.files (
    reference    text NOT NULL,
    path         text NOT NULL,
    sha256       text NOT NULL REFERENCES registry.blobs (sha256),
    size         bigint NOT NULL,
    content_type text NOT NULL DEFAULT '',
    ready        boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reference, path)
);
CREATE INDEX files_sha256 ON registry.files (sha256);
CREATE INDEX files_pending ON registry.files (created_at) WHERE NOT ready;

-- An unfinished upload of one file: an S3 multipart upload, the parts durable so far, and the
-- SHA-256 state after them. Whoever holds the lease is the one stream writing it.
CREATE TABLE registry.sessions (
    id              uuid PRIMARY KEY,
    reference       text NOT NULL,
    path            text NOT NULL,
    size            bigint NOT NULL,
    expected_sha256 text NOT NULL DEFAULT '',
    content_type    text NOT NULL DEFAULT '',
    storage_key     text NOT NULL UNIQUE,
    upload_id       text NOT NULL,
    part_size       bigint NOT NULL,
    durable_offset  bigint NOT NULL DEFAULT 0,
    hash_state      bytea NOT NULL,
    lease_owner     uuid,
    lease_expires   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reference, path)
);
CREATE INDEX sessions_updated ON registry.sessions (updated_at);

-- The S3 ETag of each durable part of a session, to complete the multipart upload.
CREATE TABLE registry.parts (
    session_id uuid NOT NULL REFERENCES registry.sessions (id) ON DELETE CASCADE,
    number     integer NOT NULL,
    etag       text NOT NULL,
    PRIMARY KEY (session_id, number)
);
