"""The client side of authentication without a server: the bearer header, the token kept out of
sight, AuthService requests and conversions, and the ``modelyard auth`` parsing and output."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from google.protobuf import timestamp_pb2
from rich.console import Console

import modelyard
import modelyard.aio
from modelyard import _connection
from modelyard import _convert as cv
from modelyard import _convert_auth as ca
from modelyard._connection import Settings
from modelyard._deploy_calls import DeployCalls
from modelyard._metadata_calls import MetadataCalls
from modelyard.cli import _parsing, _render, cli
from modelyard.cli._app import State, to_jsonable
from modelyard.internal import InternalCalls
from modelyard.v1 import auth_pb2, types_pb2

_SECRET = "myt_s3cr3t-value"
_WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


class _Returning:
    """Runs nothing: returns the call description a method built."""

    def unary(self, call: Any) -> Any:
        return call

    def iterate(self, call: Any) -> Any:
        return call


class _Recording(MetadataCalls[Any], DeployCalls[Any]):
    """Every method of the clients, on a runner that sends nothing."""

    def __init__(self, target: str, *, actor: str, token: str | None = None) -> None:
        self._settings = Settings.of(target, actor=actor, token=token)
        self._runner = _Returning()


def _stamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(_WHEN)
    return stamp


def _text(renderable: object) -> str:
    console = Console(width=140, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# --- the token on the wire and out of sight ------------------------------------------------


def test_a_token_adds_the_bearer_header_next_to_actor_and_request_id() -> None:
    request_id, headers = _Recording("test:1", actor="tester", token=_SECRET)._settings.headers()
    assert headers == (
        ("modelyard-actor", "tester"),
        ("modelyard-request-id", request_id),
        ("authorization", f"Bearer {_SECRET}"),
    )
    _, on_behalf = _Recording("test:1", actor="registry", token=_SECRET)._settings.headers("alice")
    assert dict(on_behalf)["modelyard-actor"] == "alice"
    assert dict(on_behalf)["authorization"] == f"Bearer {_SECRET}"


def test_without_a_token_no_authorization_header_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELYARD_TOKEN", raising=False)
    _, headers = _Recording("test:1", actor="tester")._settings.headers()
    assert [name for name, _ in headers] == ["modelyard-actor", "modelyard-request-id"]


def test_the_token_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_TOKEN", "from-env")
    client = modelyard.connect("test:1", actor="tester")
    assert dict(client._settings.headers()[1])["authorization"] == "Bearer from-env"
    client.close()
    given = modelyard.aio.connect("test:1", actor="tester", token="given")
    assert dict(given._settings.headers()[1])["authorization"] == "Bearer given"
    monkeypatch.setenv("MODELYARD_TOKEN", "")
    assert "authorization" not in dict(_Recording("test:1", actor="tester")._settings.headers()[1])


@pytest.mark.parametrize("token", ["zoë", "line\nbreak", "tab\there"])
def test_a_token_that_cannot_travel_as_a_header_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ValueError, match=r"^token: must be printable ASCII") as caught:
        modelyard.connect("test:1", actor="tester", token=token)
    assert token not in str(caught.value)


def test_repr_never_shows_the_token() -> None:
    client = modelyard.connect("test:1", actor="tester", token=_SECRET)
    assert _SECRET not in repr(client)
    assert repr(client).startswith("Client(target='test:1', ")
    client.close()
    assert _SECRET not in repr(modelyard.aio.connect("test:1", actor="tester", token=_SECRET))
    state = State(target=None, registry=None, deploy=None, actor=None, timeout=1.0, as_json=False, token=_SECRET)
    assert _SECRET not in repr(state)
    token = modelyard.Token("tok1", "alice")
    assert _SECRET not in repr(modelyard.NewToken(token, _SECRET))
    assert modelyard.NewToken(token, _SECRET).secret == _SECRET


def test_the_token_given_to_the_cli_reaches_the_client_and_a_bad_one_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELYARD_TOKEN", "from-env")
    state = State(target="test:1", registry=None, deploy=None, actor="t", timeout=1.0, as_json=False, token="opt")
    with cli.make_context("modelyard", ["auth", "whoami"]) as ctx, ctx.scope():
        headers = dict(state.client._settings.headers()[1])
    assert headers["authorization"] == "Bearer opt"
    result = CliRunner().invoke(cli, ["--token", "zoë", "auth", "whoami"])
    assert result.exit_code == 2
    assert "token: must be printable ASCII" in result.stderr and "zoë" not in result.stderr


# --- AuthService requests ------------------------------------------------------------------


def test_auth_methods_build_their_requests_for_the_auth_service() -> None:
    client = _Recording("test:1", actor="tester")
    call = client.create_principal("ml-core", "team")
    assert (call.service, call.method) == (_connection.AUTH, "CreatePrincipal")
    assert (call.request.name, call.request.kind, call.request.admin) == (
        "ml-core",
        auth_pb2.PRINCIPAL_KIND_TEAM,
        False,
    )
    assert client.create_principal("root", admin=True).request.kind == auth_pb2.PRINCIPAL_KIND_USER
    call = client.set_project_role("fraud", "alice", "Editor")
    assert (call.method, call.request.project, call.request.principal) == ("SetProjectRole", "fraud", "alice")
    assert call.request.role == auth_pb2.PROJECT_ROLE_EDITOR
    assert (
        client.set_project_role("fraud", "bob", modelyard.ProjectRole.ADMIN).request.role == auth_pb2.PROJECT_ROLE_ADMIN
    )
    with pytest.raises(ValueError, match="'owner' is not a ProjectRole; expected one of VIEWER, EDITOR, ADMIN"):
        client.set_project_role("fraud", "alice", "owner")
    listing = client.tokens("alice", include_revoked=True).request
    assert (listing.principal, listing.include_revoked) == ("alice", True)


def test_create_token_sends_the_ttl_as_a_duration_and_none_as_unset() -> None:
    client = _Recording("test:1", actor="tester")
    request = client.create_token("ci-bot", "nightly", timedelta(days=30)).request
    assert (request.principal, request.description) == ("ci-bot", "nightly")
    assert request.ttl.seconds == 30 * 86400
    assert not client.create_token().request.HasField("ttl")
    with pytest.raises(modelyard.InvalidArgumentError, match=r"^ttl: -1 day, 0:00:00 is not positive"):
        client.create_token(ttl=timedelta(days=-1))


def test_authorize_is_an_internal_call_that_no_client_has() -> None:
    assert hasattr(InternalCalls, "authorize")
    assert not {"internal_authorize", "authorize"} & (set(dir(modelyard.Client)) | set(dir(modelyard.AsyncClient)))
    build = InternalCalls.authorize._build
    call = build(_Recording("test:1", actor="registry"), "secret", "fraud", "editor", "Push", "fraud/m:1", True)
    request = call.request
    assert (call.service, call.method) == (_connection.AUTH, "Authorize")
    assert (request.token, request.project, request.role) == ("secret", "fraud", auth_pb2.PROJECT_ROLE_EDITOR)
    assert (request.action, request.resource, request.mutation) == ("Push", "fraud/m:1", True)
    assert call.convert(auth_pb2.AuthorizeResponse(principal="alice", allowed=True, grant="EDITOR on fraud")) == (
        modelyard.Authorization("alice", True, "", "EDITOR on fraud")
    )


# --- conversions ---------------------------------------------------------------------------


def test_whoami_converts_the_principal_and_its_roles() -> None:
    response = auth_pb2.WhoAmIResponse(
        principal=auth_pb2.Principal(
            name="alice", kind=auth_pb2.PRINCIPAL_KIND_USER, teams=["ml-core"], created_at=_stamp()
        ),
        roles=[auth_pb2.RoleBinding(project="fraud", principal="ml-core", role=auth_pb2.PROJECT_ROLE_EDITOR)],
    )
    assert ca.whoami_from_pb(response) == modelyard.WhoAmI(
        principal=modelyard.Principal("alice", modelyard.PrincipalKind.USER, False, ("ml-core",), (), _WHEN),
        roles=(modelyard.RoleBinding("fraud", "ml-core", modelyard.ProjectRole.EDITOR),),
    )


def test_token_times_unset_read_as_none_and_unknown_enums_as_unspecified() -> None:
    token = ca.token_from_pb(auth_pb2.Token(id="t1", principal="bob", created_at=_stamp(), created_by="root"))
    assert (token.created_at, token.expires_at, token.revoked_at, token.last_used_at) == (_WHEN, None, None, None)
    assert token.created_by == "root"
    new = ca.new_token_from_pb(auth_pb2.CreateTokenResponse(token=auth_pb2.Token(id="t2"), secret="s"))
    assert (new.token.id, new.secret) == ("t2", "s")
    assert ca.principal_from_pb(auth_pb2.Principal(name="x", kind=9)).kind is modelyard.PrincipalKind.UNSPECIFIED
    assert ca.role_from_pb(7) is modelyard.ProjectRole.UNSPECIFIED


def test_audit_events_carry_how_they_were_authorized() -> None:
    event = types_pb2.AuditEvent(id=3, action="version.create", access="EDITOR on fraud (team ml-core)")
    converted = cv.audit_event_from_pb(event)
    assert converted.access == "EDITOR on fraud (team ml-core)"
    table = _text(_render.audit_events([converted]))
    assert re.search(r"ACCESS", table) and "EDITOR on fraud (team ml-core)" in table


# --- the command line ----------------------------------------------------------------------


def test_parse_ttl_reads_durations_and_refuses_zero_and_words() -> None:
    assert _parsing.parse_ttl("30d") == timedelta(days=30)
    assert _parsing.parse_ttl("12h") == timedelta(hours=12)
    assert _parsing.parse_ttl(" 90m ") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="must be longer than 0"):
        _parsing.parse_ttl("0h")
    with pytest.raises(ValueError, match="'forever': expected a duration like 30d, 12h or 90m"):
        _parsing.parse_ttl("forever")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["auth", "token", "create", "--ttl", "1y"], "'1y': expected a duration like 30d, 12h or 90m"),
        (["auth", "role", "set", "fraud", "alice", "owner"], "'owner' is not one of 'viewer', 'editor', 'admin'"),
        (["auth", "principal", "create", "x", "--kind", "robot"], "'robot' is not one of 'user', 'team', 'service'"),
        (["auth", "team", "add", "ml-core"], "Missing argument 'MEMBER'"),
    ],
)
def test_auth_usage_errors_exit_2_before_calling_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--target", "127.0.0.1:1", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_new_token_prints_its_secret_once_in_the_export_hint() -> None:
    new = modelyard.NewToken(modelyard.Token("tok1", "alice", "laptop", created_at=_WHEN), _SECRET)
    text = _text(_render.new_token(new))
    assert text.count(_SECRET) == 1
    assert f"  export MODELYARD_TOKEN={_SECRET}\n" in text
    assert re.search(r"^expires +never *$", text, re.M)
    document = json.loads(json.dumps(to_jsonable(new)))
    assert document["secret"] == _SECRET and document["token"]["id"] == "tok1"


def test_whoami_shows_the_principal_and_a_role_table() -> None:
    who = modelyard.WhoAmI(
        modelyard.Principal("alice", admin=True, teams=("ml-core", "risk")),
        (modelyard.RoleBinding("fraud", "alice", modelyard.ProjectRole.ADMIN, granted_by="root"),),
    )
    text = _text(_render.whoami(who))
    assert re.search(r"^principal +alice *$", text, re.M)
    assert re.search(r"^admin +true *$", text, re.M)
    assert re.search(r"^teams +ml-core, risk *$", text, re.M)
    assert re.search(r"^ *fraud +alice +ADMIN +root", text, re.M)
