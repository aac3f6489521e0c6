"""Between auth.proto messages and the access entities."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2

from modelyard._wire import ProtoEnum, time_to_pb
from modelyard.v1 import auth_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_common.values import Consumption, ConsumptionKind
from modelyard_metadata.api.convert import CONSUMPTION
from modelyard_metadata.domain.access import Principal, PrincipalKind, Role, RoleBinding, Token

__all__ = [
    "binding_to_pb",
    "consumption_from_pb",
    "kind_from_pb",
    "principal_to_pb",
    "role_from_pb",
    "token_to_pb",
    "ttl_from_pb",
]

_KIND = ProtoEnum(PrincipalKind, auth_pb2.PrincipalKind.Value, "PRINCIPAL_KIND_")
# Role is an IntEnum (roles are ordered), so not a ProtoEnum.
_ROLES = {
    auth_pb2.PROJECT_ROLE_VIEWER: Role.VIEWER,
    auth_pb2.PROJECT_ROLE_EDITOR: Role.EDITOR,
    auth_pb2.PROJECT_ROLE_ADMIN: Role.ADMIN,
}
_ROLES_PB = {role: number for number, role in _ROLES.items()}


def kind_from_pb(field: str, value: int) -> PrincipalKind:
    if value == auth_pb2.PRINCIPAL_KIND_UNSPECIFIED:
        return PrincipalKind.USER
    kind = _KIND.from_pb(value)
    if kind is None:
        raise InvalidArgumentError(field, f"unknown principal kind {value}; use USER, TEAM or SERVICE")
    return kind


def role_from_pb(field: str, value: int) -> Role:
    if value not in _ROLES:
        raise InvalidArgumentError(field, f"must be VIEWER, EDITOR or ADMIN, got {value}")
    return _ROLES[value]  # type: ignore[index]


def consumption_from_pb(request: auth_pb2.AuthorizeRequest) -> Consumption | None:
    """The request's consumption, None when it has none (the domain refuses an unknown kind)."""
    if not request.HasField("consumption"):
        return None
    c = request.consumption
    kind = CONSUMPTION.from_pb(c.kind) or ConsumptionKind.UNSPECIFIED
    return Consumption(kind, c.reference, c.deployment)


def ttl_from_pb(field: str, value: duration_pb2.Duration) -> timedelta | None:
    if value.seconds < 0 or value.nanos < 0:
        raise InvalidArgumentError(field, "must not be negative")
    ttl = value.ToTimedelta()
    return ttl or None


def principal_to_pb(principal: Principal) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        name=principal.name,
        kind=auth_pb2.PrincipalKind.ValueType(_KIND.to_pb(principal.kind)),
        admin=principal.admin,
        teams=principal.teams,
        members=principal.members,
        created_at=time_to_pb(principal.created_at),
    )


def token_to_pb(token: Token) -> auth_pb2.Token:
    message = auth_pb2.Token(
        id=token.id,
        principal=token.principal,
        description=token.description,
        created_at=time_to_pb(token.created_at),
        created_by=token.created_by,
    )
    for name in ("expires_at", "revoked_at", "last_used_at"):
        value = getattr(token, name)
        if value is not None:
            getattr(message, name).CopyFrom(time_to_pb(value))
    return message


def binding_to_pb(binding: RoleBinding) -> auth_pb2.RoleBinding:
    return auth_pb2.RoleBinding(
        project=binding.project,
        principal=binding.principal,
        role=_ROLES_PB[binding.role],
        granted_by=binding.granted_by,
        granted_at=time_to_pb(binding.granted_at),
    )
