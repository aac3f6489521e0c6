"""Between auth.proto messages and the access entities."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2

from modelyard.v1 import auth_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.api.convert import timestamp
from modelyard_metadata.domain.access import Principal, PrincipalKind, Role, RoleBinding, Token

__all__ = ["binding_to_pb", "kind_from_pb", "principal_to_pb", "role_from_pb", "token_to_pb", "ttl_from_pb"]

_KINDS = {
    auth_pb2.PRINCIPAL_KIND_USER: PrincipalKind.USER,
    auth_pb2.PRINCIPAL_KIND_TEAM: PrincipalKind.TEAM,
    auth_pb2.PRINCIPAL_KIND_SERVICE: PrincipalKind.SERVICE,
}
_KINDS_PB = {kind: number for number, kind in _KINDS.items()}
_ROLES = {
    auth_pb2.PROJECT_ROLE_VIEWER: Role.VIEWER,
    auth_pb2.PROJECT_ROLE_EDITOR: Role.EDITOR,
    auth_pb2.PROJECT_ROLE_ADMIN: Role.ADMIN,
}
_ROLES_PB = {role: number for number, role in _ROLES.items()}


def kind_from_pb(field: str, value: int) -> PrincipalKind:
    if value == auth_pb2.PRINCIPAL_KIND_UNSPECIFIED:
        return PrincipalKind.USER
    if value not in _KINDS:
        raise InvalidArgumentError(field, f"unknown principal kind {value}; use USER, TEAM or SERVICE")
    return _KINDS[value]  # type: ignore[index]


def role_from_pb(field: str, value: int) -> Role:
    if value not in _ROLES:
        raise InvalidArgumentError(field, f"must be VIEWER, EDITOR or ADMIN, got {value}")
    return _ROLES[value]  # type: ignore[index]


def ttl_from_pb(field: str, value: duration_pb2.Duration) -> timedelta | None:
    if value.seconds < 0 or value.nanos < 0:
        raise InvalidArgumentError(field, "must not be negative")
    ttl = value.ToTimedelta()
    return ttl or None


def principal_to_pb(principal: Principal) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        name=principal.name,
        kind=_KINDS_PB[principal.kind],
        admin=principal.admin,
        teams=principal.teams,
        members=principal.members,
        created_at=timestamp(principal.created_at),
    )


def token_to_pb(token: Token) -> auth_pb2.Token:
    message = auth_pb2.Token(
        id=token.id,
        principal=token.principal,
        description=token.description,
        created_at=timestamp(token.created_at),
        created_by=token.created_by,
    )
    for name in ("expires_at", "revoked_at", "last_used_at"):
        value = getattr(token, name)
        if value is not None:
            getattr(message, name).CopyFrom(timestamp(value))
    return message


def binding_to_pb(binding: RoleBinding) -> auth_pb2.RoleBinding:
    return auth_pb2.RoleBinding(
        project=binding.project,
        principal=binding.principal,
        role=_ROLES_PB[binding.role],
        granted_by=binding.granted_by,
        granted_at=timestamp(binding.granted_at),
    )
