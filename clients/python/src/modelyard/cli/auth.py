"""``modelyard auth ...``: who you are, tokens, principals, teams and project roles."""

from __future__ import annotations

from datetime import timedelta

import click

from modelyard.cli import _render
from modelyard.cli._app import State, emit, emit_list, pass_state
from modelyard.cli._parsing import as_click, parse_ttl

_ROLES = click.Choice(["viewer", "editor", "admin"], case_sensitive=False)


@click.group()
def auth() -> None:
    """Authentication and project roles: tokens, principals (users, teams, services) and who
    may read or change each project."""


@auth.command()
@pass_state
def whoami(state: State) -> None:
    """Who the token (--token, $MODELYARD_TOKEN) stands for, and its role on each project."""
    emit(state, state.client.whoami(), _render.whoami)


# --- tokens --------------------------------------------------------------------------------


@auth.group()
def token() -> None:
    """Bearer tokens: yours, or anyone's for a platform admin."""


@token.command("create")
@click.option("--principal", default="", help="Whose token.  [default: yours]")
@click.option("--description", default="", help="What it is for, e.g. the CI job using it.")
@click.option(
    "--ttl", callback=as_click(parse_ttl), metavar="DURATION", help="Valid for 30d, 12h, 90m...  [default: no expiry]"
)
@pass_state
def token_create(state: State, principal: str, description: str, ttl: timedelta | None) -> None:
    """Create a token and print its secret: shown this once only."""
    emit(state, state.client.create_token(principal, description, ttl), _render.new_token)


@token.command("list")
@click.option("--principal", default="", help="Whose tokens.  [default: yours]")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked tokens too.")
@pass_state
def token_list(state: State, principal: str, include_revoked: bool) -> None:
    """List tokens (never their secrets)."""
    emit_list(state, state.client.tokens(principal, include_revoked), _render.tokens, "no tokens")


@token.command("revoke")
@click.argument("id")
@pass_state
def token_revoke(state: State, id: str) -> None:
    """Revoke token ID: calls carrying it are refused from now on."""
    emit(state, state.client.revoke_token(id), _render.token)


# --- principals and teams ------------------------------------------------------------------


@auth.group()
def principal() -> None:
    """Users, teams and services (platform admin only)."""


@principal.command("create")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["user", "team", "service"], case_sensitive=False),
    default="user",
    show_default=True,
    help="What NAME is.",
)
@click.option("--admin", is_flag=True, help="A platform admin: every permission on every project.")
@pass_state
def principal_create(state: State, name: str, kind: str, admin: bool) -> None:
    """Create principal NAME."""
    emit(state, state.client.create_principal(name, kind, admin), _render.principal)


@principal.command("list")
@pass_state
def principal_list(state: State) -> None:
    """List every principal."""
    emit_list(state, state.client.principals(), _render.principals, "no principals")


@auth.group()
def team() -> None:
    """Team membership: members inherit the team's project roles (platform admin only)."""


@team.command("add")
@click.argument("team_name", metavar="TEAM")
@click.argument("member")
@pass_state
def team_add(state: State, team_name: str, member: str) -> None:
    """Add MEMBER to TEAM."""
    emit(state, state.client.add_team_member(team_name, member), _render.principal)


@team.command("remove")
@click.argument("team_name", metavar="TEAM")
@click.argument("member")
@pass_state
def team_remove(state: State, team_name: str, member: str) -> None:
    """Remove MEMBER from TEAM."""
    emit(state, state.client.remove_team_member(team_name, member), _render.principal)


# --- project roles -------------------------------------------------------------------------


@auth.group()
def role() -> None:
    """Roles on a project: viewer reads, editor also changes, admin also grants roles."""


@role.command("set")
@click.argument("project")
@click.argument("principal_name", metavar="PRINCIPAL")
@click.argument("role_name", metavar="viewer|editor|admin", type=_ROLES)
@pass_state
def role_set(state: State, project: str, principal_name: str, role_name: str) -> None:
    """Give PRINCIPAL (a user, team or service) a role on PROJECT, replacing the one it had."""
    emit(state, state.client.set_project_role(project, principal_name, role_name), _render.role_binding)


@role.command("remove")
@click.argument("project")
@click.argument("principal_name", metavar="PRINCIPAL")
@pass_state
def role_remove(state: State, project: str, principal_name: str) -> None:
    """Take PRINCIPAL's role on PROJECT away."""
    state.client.remove_project_role(project, principal_name)
    removed = {"project": project, "principal": principal_name}
    emit(state, removed, lambda _: f"removed the role of {principal_name} on {project}")


@role.command("list")
@click.argument("project")
@pass_state
def role_list(state: State, project: str) -> None:
    """Who has which role on PROJECT."""
    emit_list(state, state.client.project_roles(project), _render.role_bindings, f"no roles granted on {project}")
