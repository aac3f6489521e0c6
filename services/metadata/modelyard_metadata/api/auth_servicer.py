"""AuthService over gRPC: unpack the request, call one Accounts use case, convert the result."""

from __future__ import annotations

from typing import Any

import grpc

from modelyard.v1 import auth_pb2, auth_pb2_grpc
from modelyard_metadata.api.auth_convert import (
    binding_to_pb,
    consumption_from_pb,
    kind_from_pb,
    principal_to_pb,
    role_from_pb,
    token_to_pb,
    ttl_from_pb,
)
from modelyard_metadata.api.callers import Callers
from modelyard_metadata.domain.accounts import Accounts

__all__ = ["AuthServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, accounts: Accounts, callers: Callers) -> None:
        self._accounts = accounts
        self._callers = callers

    async def WhoAmI(self, request: auth_pb2.WhoAmIRequest, context: Context) -> auth_pb2.WhoAmIResponse:
        principal, roles = await self._accounts.whoami(await self._callers.current())
        return auth_pb2.WhoAmIResponse(principal=principal_to_pb(principal), roles=[binding_to_pb(b) for b in roles])

    async def CreatePrincipal(
        self, request: auth_pb2.CreatePrincipalRequest, context: Context
    ) -> auth_pb2.CreatePrincipalResponse:
        kind = kind_from_pb("kind", request.kind)
        principal = await self._accounts.create_principal(
            await self._callers.current(), request.name, kind, request.admin
        )
        return auth_pb2.CreatePrincipalResponse(principal=principal_to_pb(principal))

    async def ListPrincipals(
        self, request: auth_pb2.ListPrincipalsRequest, context: Context
    ) -> auth_pb2.ListPrincipalsResponse:
        principals = await self._accounts.list_principals(await self._callers.current())
        return auth_pb2.ListPrincipalsResponse(principals=[principal_to_pb(p) for p in principals])

    async def AddTeamMember(
        self, request: auth_pb2.AddTeamMemberRequest, context: Context
    ) -> auth_pb2.AddTeamMemberResponse:
        team = await self._accounts.set_team_member(await self._callers.current(), request.team, request.member, True)
        return auth_pb2.AddTeamMemberResponse(team=principal_to_pb(team))

    async def RemoveTeamMember(
        self, request: auth_pb2.RemoveTeamMemberRequest, context: Context
    ) -> auth_pb2.RemoveTeamMemberResponse:
        team = await self._accounts.set_team_member(await self._callers.current(), request.team, request.member, False)
        return auth_pb2.RemoveTeamMemberResponse(team=principal_to_pb(team))

    async def CreateToken(self, request: auth_pb2.CreateTokenRequest, context: Context) -> auth_pb2.CreateTokenResponse:
        ttl = ttl_from_pb("ttl", request.ttl)
        token, secret = await self._accounts.create_token(
            await self._callers.current(), request.principal, request.description, ttl
        )
        return auth_pb2.CreateTokenResponse(token=token_to_pb(token), secret=secret)

    async def ListTokens(self, request: auth_pb2.ListTokensRequest, context: Context) -> auth_pb2.ListTokensResponse:
        tokens = await self._accounts.list_tokens(
            await self._callers.current(), request.principal, request.include_revoked
        )
        return auth_pb2.ListTokensResponse(tokens=[token_to_pb(t) for t in tokens])

    async def RevokeToken(self, request: auth_pb2.RevokeTokenRequest, context: Context) -> auth_pb2.RevokeTokenResponse:
        token = await self._accounts.revoke_token(await self._callers.current(), request.id)
        return auth_pb2.RevokeTokenResponse(token=token_to_pb(token))

    async def SetProjectRole(
        self, request: auth_pb2.SetProjectRoleRequest, context: Context
    ) -> auth_pb2.SetProjectRoleResponse:
        role = role_from_pb("role", request.role)
        binding = await self._accounts.set_project_role(
            await self._callers.current(), request.project, request.principal, role
        )
        return auth_pb2.SetProjectRoleResponse(binding=binding_to_pb(binding))

    async def RemoveProjectRole(
        self, request: auth_pb2.RemoveProjectRoleRequest, context: Context
    ) -> auth_pb2.RemoveProjectRoleResponse:
        await self._accounts.remove_project_role(await self._callers.current(), request.project, request.principal)
        return auth_pb2.RemoveProjectRoleResponse()

    async def ListProjectRoles(
        self, request: auth_pb2.ListProjectRolesRequest, context: Context
    ) -> auth_pb2.ListProjectRolesResponse:
        bindings = await self._accounts.list_project_roles(await self._callers.current(), request.project)
        return auth_pb2.ListProjectRolesResponse(bindings=[binding_to_pb(b) for b in bindings])

    async def Authorize(self, request: auth_pb2.AuthorizeRequest, context: Context) -> auth_pb2.AuthorizeResponse:
        role = role_from_pb("role", request.role)
        decision = await self._accounts.authorize(
            await self._callers.current(),
            request.token,
            request.project,
            role,
            request.action,
            request.resource,
            request.mutation,
            consumption_from_pb(request),
        )
        return auth_pb2.AuthorizeResponse(
            principal=decision.principal,
            allowed=decision.allowed,
            message=decision.message,
            grant=decision.grant,
            readable=decision.readable,
        )

    async def CreateServingToken(
        self, request: auth_pb2.CreateServingTokenRequest, context: Context
    ) -> auth_pb2.CreateServingTokenResponse:
        token, secret, versions = await self._accounts.create_serving_token(
            await self._callers.current(), request.reference, request.deployment, ttl_from_pb("ttl", request.ttl)
        )
        return auth_pb2.CreateServingTokenResponse(token=token_to_pb(token), secret=secret, versions=versions)
