-- Authentication and project roles (docs/security.md): principals (users, teams, services),
-- team membership, API tokens stored as the SHA-256 of their secret, and roles on projects.
CREATE TABLE principals (
    name       text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('USER', 'TEAM', 'SERVICE')),
    admin      boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT ''
);

-- Members are users or services, never teams: a role reaches a user through one team at most.
CREATE TABLE team_members (
    team   text NOT NULL REFERENCES principals (name),
    member text NOT NULL REFERENCES principals (name),
    PRIMARY KEY (team, member)
);
CREATE INDEX team_members_member ON team_members (member);

CREATE TABLE tokens (
    id            text PRIMARY KEY,
    principal     text NOT NULL REFERENCES principals (name),
    secret_sha256 bytea NOT NULL UNIQUE,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    -- Given in the service's settings; replaced (the old one revoked) when the setting changes.
    bootstrap     boolean NOT NULL DEFAULT false
);
CREATE INDEX tokens_principal ON tokens (principal);

CREATE TABLE project_roles (
    project    text NOT NULL REFERENCES projects (name),
    principal  text NOT NULL REFERENCES principals (name),
    role       text NOT NULL CHECK (role IN ('VIEWER', 'EDITOR', 'ADMIN')),
    granted_by text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, principal)
);
CREATE INDEX project_roles_principal ON project_roles (principal);

-- How each change was authorized ('' while authentication is off).
ALTER TABLE audit_events ADD COLUMN access text NOT NULL DEFAULT '';
