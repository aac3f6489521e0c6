"""Project access for the registry and deploy services, decided by the metadata service.

With authentication on, each call asks metadata's Authorize with the caller's bearer token (no
cache: a revoked token or a removed role counts from the next call). Off, everything is allowed
and the actor is what the client says.
"""

from __future__ import annotations

from modelyard import AsyncClient, Consumption, ProjectRole
from modelyard.internal import InternalCalls
from modelyard_common.calls import current_call
from modelyard_common.errors import ModelyardError, PermissionDeniedError, UnauthenticatedError

__all__ = ["ProjectAccess"]


class ProjectAccess:
    def __init__(self, client: AsyncClient | None) -> None:
        """``client``: the metadata service, called as this service's own principal; None: off."""
        self._calls = InternalCalls(client) if client is not None else None

    async def require(
        self,
        project: str,
        role: ProjectRole,
        action: str,
        resource: str,
        consumption: Consumption | None = None,
        *,
        unseen: ModelyardError | None = None,
    ) -> str:
        """The caller's name, once it may do ``action``; UNAUTHENTICATED or PERMISSION_DENIED
        (with the metadata service's message) otherwise, or ``unseen`` (a NOT_FOUND) when it may
        not even read the project. An EDITOR's action is a change: the metadata service audits
        the decision. A ``consumption`` granted is recorded there too."""
        call = current_call()
        if self._calls is None:
            return call.actor if call else "anonymous"
        # A call without a token never gets here: the interceptor refused it.
        decision = await self._calls.authorize(
            call.token if call else "",
            project,
            role,
            action,
            resource,
            mutation=role is ProjectRole.EDITOR,
            consumption=consumption,
        )
        if not decision.principal:
            raise UnauthenticatedError(decision.message)
        if not decision.allowed:
            if unseen is not None and not decision.readable:
                raise unseen
            raise PermissionDeniedError(decision.message)
        return decision.principal
