"""The console's HTTP application: sign-in, the security every response carries, and the pages.

Every page is rendered on the server (Jinja2, autoescaped) from calls the console makes to the
services with the signed-in user's token, so each permission decision stays in the services; a
refusal is shown with the service's own message. The pages work without script; one script of
our own (static/live.js) adds the live tails of the audit, deployment and job pages.

Security: the session cookie is HttpOnly, SameSite=Strict, and Secure under TLS; every POST
carries the session's CSRF token (sign-in, which has no session yet, a double-submit cookie);
the Content-Security-Policy allows nothing but this origin's stylesheet, images, that script and
its event streams (no inline script or style, no eval).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
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
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles

import modelyard.aio
from modelyard import TLSConfig
from modelyard.errors import ModelyardError
from modelyard_console import pages
from modelyard_console.metrics import REQUEST_SECONDS, REQUESTS
from modelyard_console.pages._badges import state_class
from modelyard_console.sessions import COOKIE, Session, SessionStore
from modelyard_console.settings import ConsoleSettings

__all__ = ["Console", "build_app"]

HERE = Path(__file__).parent
PRE_SIGN_IN = "modelyard_sign_in"  # the double-submit CSRF cookie of the sign-in form
MAX_FORM_BYTES = 1024 * 1024  # a POST is read whole (for its CSRF token) only up to this
CLIENTS = 256  # sessions whose SDK client (and channels) stay open between pages
OPEN_PATHS = ("/sign-in", "/healthz", "/static/", "/favicon.ico")
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

    def __init__(self, sessions: SessionStore, settings: ConsoleSettings, tls: TLSConfig | None) -> None:
        self.sessions = sessions
        self.secure = settings.tls_cert_file is not None or settings.secure_cookies
        self._clients: OrderedDict[str, modelyard.aio.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Future[None]] = set()
        self._settings, self._tls = settings, tls
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), trim_blocks=True
        )
        self.templates.globals["state_class"] = state_class

    def client(self, token: str) -> modelyard.aio.AsyncClient:
        """A client acting with ``token``: the services decide what it may see and do."""
        settings = self._settings
        return modelyard.aio.connect(
            settings.metadata_addr,
            registry=settings.registry_addr or None,
            deploy=settings.deploy_addr or None,
            token=token,
            timeout=settings.metadata_timeout_seconds,
            tls=self._tls,
            actor="modelyard-console",
        )

    def client_for(self, session: Session) -> modelyard.aio.AsyncClient:
        """The session's client, kept for its next pages (its channels stay open: a page does
        not pay for a connection); the least recently used beyond ``CLIENTS`` are closed."""
        client = self._clients.pop(session.id, None) or self.client(session.token)
        self._clients[session.id] = client
        while len(self._clients) > CLIENTS:
            _, evicted = self._clients.popitem(last=False)
            self._closing.add(task := asyncio.ensure_future(evicted.close()))
            task.add_done_callback(self._closing.discard)
        return client

    async def forget(self, session: Session) -> None:
        """Ends what the console holds for ``session``: its client (the session itself is in Redis)."""
        client = self._clients.pop(session.id, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

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
    """Counts and times every request (by route template, so that the label stays bounded)."""
    started = time.perf_counter()
    response = await _checked(request, call_next)
    route = _route_of(request)
    REQUESTS.labels(route, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
    return response


def _route_of(request: Request) -> str:
    for route in request.app.routes:
        if isinstance(route, Route | Mount) and route.matches(request.scope)[0] == Match.FULL:
            return route.path
    return "unmatched"


async def _checked(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
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
            length = request.headers.get("content-length")
            if (length is None and "transfer-encoding" in request.headers) or int(length or 0) > MAX_FORM_BYTES:
                return _secured(PlainTextResponse(f"refused: a form takes at most {MAX_FORM_BYTES} bytes", 413))
            await request.body()  # kept, so that the page reads the form again (form() alone consumes it)
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
    # Kept while the browser has one: a second sign-in page (another tab, a redirected favicon
    # request) must not invalidate the form already shown.
    csrf = request.cookies.get(PRE_SIGN_IN) or secrets.token_urlsafe(32)
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
    await console.forget(session)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
