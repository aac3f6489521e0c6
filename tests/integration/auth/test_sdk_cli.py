"""The SDK and the ``modelyard auth`` commands against a real metadata service with
authentication on (the ``auth_metadata`` process of conftest.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from auth_sessions import AuthTokens
from click.testing import CliRunner

import modelyard
from modelyard import PrincipalKind, ProjectRole
from modelyard.cli import cli
from modelyard_common.embedded.service import ServiceProcess


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Crew:
    """One test's principals, each with an SDK client on its own token: alice created
    ``project`` (so she is its admin), bob and carol have no role yet."""

    target: str
    project: str
    names: dict[str, str]
    secrets: dict[str, str]
    clients: dict[str, modelyard.Client]

    def __getitem__(self, who: str) -> modelyard.Client:
        return self.clients[who]

    def cli(self, who: str, *args: str) -> tuple[int, str, str]:
        """Runs ``modelyard --target ... --token <who's> ARGS`` (tables 200 columns wide): exit
        code, stdout, stderr."""
        args = ("--target", self.target, "--token", self.secrets[who], *args)
        result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def root(auth_metadata: ServiceProcess, auth_tokens: AuthTokens) -> Iterator[modelyard.Client]:
    with modelyard.connect(auth_metadata.target, token=auth_tokens.admin) as client:
        yield client


@pytest.fixture()
def crew(root: modelyard.Client, auth_metadata: ServiceProcess) -> Iterator[Crew]:
    names = {who: _name(who) for who in ("alice", "bob", "carol")}
    secrets = {}
    for who, name in names.items():
        root.create_principal(name)
        secrets[who] = root.create_token(name, "sdk tests").secret
    clients = {who: modelyard.connect(auth_metadata.target, token=secret) for who, secret in secrets.items()}
    project = _name("fraud")
    clients["alice"].create_project(project)
    yield Crew(auth_metadata.target, project, names, secrets, clients)
    for client in clients.values():
        client.close()


def test_whoami_names_the_token_holder_and_the_role_it_has_on_its_project(crew: Crew, root: modelyard.Client) -> None:
    me = crew["alice"].whoami()
    assert (me.principal.name, me.principal.kind, me.principal.admin) == (
        crew.names["alice"],
        PrincipalKind.USER,
        False,
    )
    assert [(r.project, r.role) for r in me.roles] == [(crew.project, ProjectRole.ADMIN)]
    assert me.principal.created_at is not None
    boss = root.whoami()
    assert boss.principal.admin is True


def test_a_new_token_works_on_every_kind_of_call_until_it_is_revoked(crew: Crew, auth_metadata: ServiceProcess) -> None:
    new = crew["carol"].create_token(description="laptop", ttl=timedelta(days=1))
    assert new.token.principal == crew.names["carol"]
    assert new.token.expires_at is not None and new.token.created_at is not None
    assert new.token.expires_at - new.token.created_at == timedelta(days=1)
    assert new.secret not in repr(new)
    with modelyard.connect(auth_metadata.target, token=new.secret) as laptop:
        assert laptop.whoami().principal.name == crew.names["carol"]
        # A project of carol's own: creating it makes her its admin; its audit log is hers to read.
        project = _name("mine")
        laptop.create_project(project)
        (created,) = laptop.audit_events(project=project)
        assert (created.action, created.actor) == ("project.create", crew.names["carol"])
        # A server stream carries the token too: the create event again, then live ones.
        stream = laptop.watch_events(project=project, after_id=created.id - 1)
        assert next(stream).id == created.id
        stream.close()

        listed = {t.description: t for t in crew["carol"].tokens()}
        assert set(listed) == {"sdk tests", "laptop"}
        assert listed["laptop"].id == new.token.id and listed["laptop"].revoked_at is None

        revoked = crew["carol"].revoke_token(new.token.id)
        assert (revoked.id, revoked.revoked_at is not None) == (new.token.id, True)
        with pytest.raises(modelyard.UnauthenticatedError, match=rf"^token {new.token.id} was revoked at "):
            laptop.whoami()
        with pytest.raises(modelyard.UnauthenticatedError):
            next(laptop.watch_events(project=project))
    assert [t.description for t in crew["carol"].tokens()] == ["sdk tests"]
    assert {t.description for t in crew["carol"].tokens(include_revoked=True)} == {"sdk tests", "laptop"}


def test_project_roles_are_set_listed_and_removed(crew: Crew) -> None:
    alice, bob = crew["alice"], crew["bob"]
    with pytest.raises(modelyard.PermissionDeniedError) as denied:
        bob.get_project(crew.project)
    assert denied.value.message == (
        f"GetProject: {crew.names['bob']} may not; it needs VIEWER on project {crew.project!r} and has no role there"
    )
    binding = alice.set_project_role(crew.project, crew.names["bob"], "viewer")
    assert (binding.project, binding.principal, binding.role, binding.granted_by) == (
        crew.project,
        crew.names["bob"],
        ProjectRole.VIEWER,
        crew.names["alice"],
    )
    assert bob.get_project(crew.project).name == crew.project
    roles = {b.principal: b.role for b in alice.project_roles(crew.project)}
    assert roles == {crew.names["alice"]: ProjectRole.ADMIN, crew.names["bob"]: ProjectRole.VIEWER}
    # A viewer may list the roles but not grant one.
    assert {b.principal for b in bob.project_roles(crew.project)} == set(roles)
    with pytest.raises(modelyard.PermissionDeniedError, match="needs ADMIN"):
        bob.set_project_role(crew.project, crew.names["carol"], ProjectRole.EDITOR)

    assert alice.remove_project_role(crew.project, crew.names["bob"]) is None
    assert [b.principal for b in alice.project_roles(crew.project)] == [crew.names["alice"]]
    with pytest.raises(modelyard.PermissionDeniedError):
        bob.get_project(crew.project)


def test_team_members_inherit_the_team_role_until_they_leave(crew: Crew, root: modelyard.Client) -> None:
    team_name = _name("ml")
    team = root.create_principal(team_name, kind="team")
    assert (team.name, team.kind, team.members) == (team_name, PrincipalKind.TEAM, ())
    team = root.add_team_member(team_name, crew.names["bob"])
    assert team.members == (crew.names["bob"],)
    crew["alice"].set_project_role(crew.project, team_name, "editor")

    me = crew["bob"].whoami()
    assert me.principal.teams == (team_name,)
    assert [(r.project, r.role) for r in me.roles] == [(crew.project, ProjectRole.EDITOR)]
    model = crew["bob"].create_model(f"{crew.project}/scorer")
    assert model.full_name == f"{crew.project}/scorer"
    (created, *_) = crew["alice"].audit_events(project=crew.project)
    assert (created.action, created.actor, created.access) == (
        "model.create",
        crew.names["bob"],
        f"EDITOR on {crew.project} (team {team_name})",
    )
    listed = {p.name: p for p in root.principals()}
    assert listed[team_name].members == (crew.names["bob"],)
    assert listed[crew.names["bob"]].teams == (team_name,)

    assert root.remove_team_member(team_name, crew.names["bob"]).members == ()
    assert crew["bob"].whoami().roles == ()
    with pytest.raises(modelyard.PermissionDeniedError, match=r"^CreatePrincipal: .* needs a platform admin$"):
        crew["alice"].create_principal(_name("mallory"))


def test_cli_auth_commands_print_exact_values_and_exit_1_when_denied(crew: Crew) -> None:
    alice, bob = crew.names["alice"], crew.names["bob"]
    code, out, err = crew.cli("alice", "auth", "whoami")
    assert (code, err) == (0, "")
    assert re.search(rf"^principal +{alice} *$", out, re.M)
    assert re.search(rf"^ *{crew.project} +{alice} +ADMIN ", out, re.M)

    code, out, _ = crew.cli("bob", "auth", "token", "create", "--description", "ci", "--ttl", "12h")
    assert code == 0
    (secret,) = re.findall(r"^  export MODELYARD_TOKEN=(\S+)$", out, re.M)
    assert out.count(secret) == 1
    assert re.search(rf"^principal +{bob} *$", out, re.M)
    result = CliRunner().invoke(
        cli, ["--target", crew.target, "--json", "auth", "whoami"], env={"MODELYARD_TOKEN": secret}
    )
    assert (result.exit_code, json.loads(result.stdout)["principal"]["name"]) == (0, bob)

    code, out, _ = crew.cli("bob", "--json", "auth", "token", "create", "--description", "json")
    created = json.loads(out)
    assert (code, created["token"]["principal"], created["token"]["expires_at"]) == (0, bob, None)
    assert created["secret"] and created["secret"] != secret
    code, out, _ = crew.cli("bob", "--json", "auth", "token", "list")
    assert (code, sorted(t["description"] for t in json.loads(out))) == (0, ["ci", "json", "sdk tests"])
    code, out, _ = crew.cli("bob", "--json", "auth", "token", "revoke", created["token"]["id"])
    assert (code, json.loads(out)["id"]) == (0, created["token"]["id"])
    result = CliRunner().invoke(cli, ["--target", crew.target, "--token", created["secret"], "auth", "whoami"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: UNAUTHENTICATED: token {created['token']['id']} was revoked at ")

    code, out, err = crew.cli("bob", "project", "get", crew.project)
    assert (code, out) == (1, "")
    assert err == (
        f"error: PERMISSION_DENIED: GetProject: {bob} may not; it needs VIEWER on project "
        f"{crew.project!r} and has no role there\n"
    )
    code, out, _ = crew.cli("alice", "--json", "auth", "role", "set", crew.project, bob, "editor")
    assert (code, json.loads(out)["role"], json.loads(out)["granted_by"]) == (0, "EDITOR", alice)
    code, out, _ = crew.cli("alice", "auth", "role", "list", crew.project)
    assert code == 0
    assert re.search(rf"^ *{crew.project} +{bob} +EDITOR +{alice} ", out, re.M)
    assert crew.cli("bob", "project", "get", crew.project)[0] == 0
    code, out, _ = crew.cli("alice", "auth", "role", "remove", crew.project, bob)
    assert (code, out) == (0, f"removed the role of {bob} on {crew.project}\n")
    assert crew.cli("bob", "project", "get", crew.project)[0] == 1

    code, out, err = crew.cli("alice", "auth", "principal", "create", _name("mallory"))
    assert (code, out) == (1, "")
    assert err == f"error: PERMISSION_DENIED: CreatePrincipal: {alice} may not; it needs a platform admin\n"


def test_cli_admin_manages_principals_and_teams_and_audit_shows_access(crew: Crew, auth_tokens: AuthTokens) -> None:
    crew.secrets["root"] = auth_tokens.admin
    team_name = _name("ml")
    code, out, _ = crew.cli("root", "--json", "auth", "principal", "create", team_name, "--kind", "team")
    assert (code, json.loads(out)["kind"], json.loads(out)["admin"]) == (0, "TEAM", False)
    code, out, _ = crew.cli("root", "--json", "auth", "team", "add", team_name, crew.names["carol"])
    assert (code, json.loads(out)["members"]) == (0, [crew.names["carol"]])
    code, out, _ = crew.cli("root", "--json", "auth", "principal", "list")
    listed = {p["name"]: p for p in json.loads(out)}
    assert code == 0
    assert (listed[team_name]["members"], listed[crew.names["carol"]]["teams"]) == ([crew.names["carol"]], [team_name])
    code, out, _ = crew.cli("root", "--json", "auth", "team", "remove", team_name, crew.names["carol"])
    assert (code, json.loads(out)["members"]) == (0, [])

    crew["alice"].create_model(f"{crew.project}/scorer")
    code, out, _ = crew.cli("alice", "--json", "audit", "--project", crew.project)
    events = json.loads(out)
    assert code == 0
    assert (events[0]["action"], events[0]["access"]) == ("model.create", f"ADMIN on {crew.project}")
    code, out, _ = crew.cli("alice", "audit", "--project", crew.project)
    assert re.search(r"^ *ID +TIME +ACTOR +ACTION +RESOURCE +REASON +ACCESS *$", out, re.M)
    assert re.search(
        rf" {crew.names['alice']} +model\.create +{crew.project}/scorer +ADMIN on {crew.project} *$", out, re.M
    )
