"""What every page shares: a client acting as the signed-in user, and a service's refusal shown
as its own message with the matching HTTP status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

import modelyard.aio
from modelyard import Stage
from modelyard.errors import ModelyardError

if TYPE_CHECKING:
    from modelyard_console.app import Console

__all__ = ["STAGES", "Page", "console_of", "page", "status_of"]

STAGES = (Stage.DEVELOPMENT, Stage.VALIDATION, Stage.PRODUCTION, Stage.ARCHIVED)
_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "UNAVAILABLE": 503,
}

Page = Callable[[Request, modelyard.aio.AsyncClient], Awaitable[Response]]


def page(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Runs ``page`` with a client acting as the session's user; a service error becomes an
    error page with the service's message."""

    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        try:
            return await page(request, console.client_for(request.scope["session_record"]))
        except ModelyardError as exc:
            return console.render(request, "error.html", status_of(exc), error=exc)

    return endpoint


def status_of(error: ModelyardError) -> int:
    """The HTTP status of a page showing the service's refusal ``error``."""
    return _STATUS.get(error.code, 500)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console
