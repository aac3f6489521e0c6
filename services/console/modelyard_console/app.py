"""The console's HTTP application: sign-in, the security every response carries, and the pages.

Every page is rendered on the server (Jinja2, autoescaped) from calls the console makes to the
services with the signed-in user's token, so each permission decision stays in the services; a
refusal is shown with the service's own message. No script runs in the pages.

Security: the session cookie is HttpOnly, SameSite=Strict, and Secure under TLS; every POST
carries the session's CSRF token (sign-in, which has no session yet, a double-submit cookie);
the Content-Security-Policy allows nothing but this origin's stylesheet and images.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import modelyard.aio
from modelyard import TLSConfig
from modelyard.errors import ModelyardError
from modelyard_console import pages
from modelyard_console.sessions import COOKIE, Session, SessionStore

__all__ = ["Console", "build_app"]

HERE = Path(__file__).parent
PRE_SIGN_IN = "modelyard_sign_in"  # the double-submit CSRF cookie of the sign-in form
OPEN_PATHS = ("/sign-in", "/healthz", "/static/")
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class Console:
    """What the pages need: the templates, the sessions, and a client for a session's user."""

    def __init__(
        self, sessions: SessionStore, metadata_addr: str, timeout: float, tls: TLSConfig | None, secure: bool
    ) -> None:
        self.sessions = sessions
        self.secure = secure
        self._metadata_addr, self._timeout, self._tls = metadata_addr, timeout, tls
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), trim_blocks=True
        )

    def client(self, token: str) -> modelyard.aio.AsyncClient:
        """A client acting with ``token``: the services decide what it may see and do."""
        return modelyard.aio.connect(
            self._metadata_addr, token=token, timeout=self._timeout, tls=self._tls, actor="modelyard-console"
        )

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        session: Session | None = request.scope.get("session_record")
        html = self.templates.get_template(template).render(
            session=session, path=request.url.path, query=request.url.query, **values
        )
        return HTMLResponse(html, status_code=status)


def build_app(console: Console) -> Starlette:
    routes = [
        Route("/healthz", _health),
        Route("/sign-in", _sign_in_form, methods=["GET"]),
        Route("/sign-in", _sign_in, methods=["POST"]),
        Route("/sign-out", _sign_out, methods=["POST"]),
        *pages.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=_guard)])
    app.state.console = console
    return app


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Finds the session (or sends to sign-in), checks every POST's CSRF token, and adds the
    security headers to every response."""
    console: Console = request.app.state.console
    path = request.url.path
    if not path.startswith(OPEN_PATHS):
        session = await console.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return _secured(RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303))
        request.scope["session_record"] = session
        if request.method == "POST":
            # Read whole before parsing: BaseHTTPMiddleware hands a read body on to the page, a parsed one not.
            await request.body()
            form = await request.form()
            if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                return _secured(PlainTextResponse("refused: the form's CSRF token is missing or wrong", 403))
    return _secured(await call_next(request))


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def _next_path(value: str | None) -> str:
    """Where to go after sign-in: a path of this console only (never another origin)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


async def _sign_in_form(request: Request, error: str = "", status: int = 200) -> Response:
    console: Console = request.app.state.console
    csrf = secrets.token_urlsafe(32)
    response = console.render(
        request, "sign_in.html", status, csrf=csrf, error=error, next=_next_path(request.query_params.get("next"))
    )
    response.set_cookie(PRE_SIGN_IN, csrf, httponly=True, samesite="strict", secure=console.secure, path="/sign-in")
    return response


async def _sign_in(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form()
    expected = request.cookies.get(PRE_SIGN_IN, "")
    if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
        return PlainTextResponse("refused: the form's CSRF token is missing or wrong", 403)
    token = str(form.get("token", "")).strip()
    if not token:
        return await _sign_in_form(request, "token: paste an API token (modelyard auth token create)", 400)
    try:
        async with console.client(token) as client:
            who = await client.whoami()
    except (ModelyardError, ValueError) as exc:
        message = exc.message if isinstance(exc, ModelyardError) else str(exc)
        return await _sign_in_form(request, f"sign-in refused: {message}", 401)
    session = await console.sessions.create(token, who.principal.name)
    response = RedirectResponse(_next_path(str(form.get("next", ""))), status_code=303)
    response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", secure=console.secure, path="/")
    response.delete_cookie(PRE_SIGN_IN, path="/sign-in")
    return response


async def _sign_out(request: Request) -> Response:
    console: Console = request.app.state.console
    session: Session = request.scope["session_record"]
    await console.sessions.end(session.id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
