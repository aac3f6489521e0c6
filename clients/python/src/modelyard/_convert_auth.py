"""Proto <-> dataclass conversion of AuthService's messages (see ``_convert``)."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2

from modelyard._convert import consumption_kind_to_pb, optional_time, read_enum
from modelyard._types import (
    Authorization,
    Consumption,
    NewToken,
    Principal,
    PrincipalKind,
    ProjectRole,
    RoleBinding,
    Token,
    WhoAmI,
)
from modelyard._wire import ProtoEnum
from modelyard.v1 import auth_pb2

PRINCIPAL_KINDS = ProtoEnum(PrincipalKind, auth_pb2.PrincipalKind.Value, "PRINCIPAL_KIND_")
ROLES = ProtoEnum(ProjectRole, auth_pb2.ProjectRole.Value, "PROJECT_ROLE_")


def principal_kind_to_pb(kind: PrincipalKind) -> auth_pb2.PrincipalKind.ValueType:
    return auth_pb2.PrincipalKind.ValueType(PRINCIPAL_KINDS.to_pb(kind))


def role_to_pb(role: ProjectRole) -> auth_pb2.ProjectRole.ValueType:
    return auth_pb2.ProjectRole.ValueType(ROLES.to_pb(role))


def role_from_pb(number: int) -> ProjectRole:
    return read_enum(ROLES, number)


def ttl_to_pb(ttl: timedelta) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(ttl)
    return duration


def consumption_to_pb(consumption: Consumption) -> auth_pb2.Consumption:
    return auth_pb2.Consumption(
        kind=consumption_kind_to_pb(consumption.kind),
        reference=consumption.reference,
        deployment=consumption.deployment,
    )


def principal_from_pb(principal: auth_pb2.Principal) -> Principal:
    return Principal(
        name=principal.name,
        kind=read_enum(PRINCIPAL_KINDS, principal.kind),
        admin=principal.admin,
        teams=tuple(principal.teams),
        members=tuple(principal.members),
        created_at=optional_time(principal, "created_at"),
    )


def token_from_pb(token: auth_pb2.Token) -> Token:
    return Token(
        id=token.id,
        principal=token.principal,
        description=token.description,
        created_at=optional_time(token, "created_at"),
        expires_at=optional_time(token, "expires_at"),
        revoked_at=optional_time(token, "revoked_at"),
        last_used_at=optional_time(token, "last_used_at"),
        created_by=token.created_by,
    )


def role_binding_from_pb(binding: auth_pb2.RoleBinding) -> RoleBinding:
    return RoleBinding(
        project=binding.project,
        principal=binding.principal,
        role=role_from_pb(binding.role),
        granted_by=binding.granted_by,
        granted_at=optional_time(binding, "granted_at"),
    )


def whoami_from_pb(response: auth_pb2.WhoAmIResponse) -> WhoAmI:
    return WhoAmI(
        principal=principal_from_pb(response.principal),
        roles=tuple(role_binding_from_pb(b) for b in response.roles),
    )


def new_token_from_pb(response: auth_pb2.CreateTokenResponse | auth_pb2.CreateServingTokenResponse) -> NewToken:
    return NewToken(token=token_from_pb(response.token), secret=response.secret)


def authorization_from_pb(response: auth_pb2.AuthorizeResponse) -> Authorization:
    return Authorization(
        principal=response.principal,
        allowed=response.allowed,
        message=response.message,
        grant=response.grant,
        readable=response.readable,
    )
