"""The caller of the RPC being served, authenticated when authentication is on."""

from __future__ import annotations

from modelyard_common.calls import current_call
from modelyard_metadata.domain.accounts import Accounts
from modelyard_metadata.domain.entities import Caller

__all__ = ["Callers"]


class Callers:
    """Resolves the current call's headers into a Caller; ``accounts`` None: authentication off,
    and the actor is whatever the client says."""

    def __init__(self, accounts: Accounts | None) -> None:
        self._accounts = accounts

    async def current(self) -> Caller:
        call = current_call()
        if call is None:
            return Caller("anonymous")
        if self._accounts is None:
            return Caller(call.actor, call.request_id)
        return await self._accounts.authenticate(call.token, call.actor, call.request_id, call.method)
