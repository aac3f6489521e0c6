"""What a change leaves for the page it concerns: a one-line confirmation, carried across the
redirect that follows a POST in a short-lived cookie and shown once, or the service's refusal,
shown inline beside the form that was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import ModelyardError
from modelyard_console.pages._common import console_of, status_of

__all__ = ["NOTICE_COOKIE", "Refused", "confirm", "form_text", "render_with_notice", "submitted"]

NOTICE_COOKIE = "modelyard_notice"
_NOTICE_SECONDS = 60  # long enough for the redirect, short enough not to linger
_NOTICE_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Refused:
    """A change the service refused: which form, its message, and what the user had typed."""

    form: str
    error: ModelyardError
    submitted: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return status_of(self.error)


def confirm(request: Request, path: str, message: str) -> Response:
    """A 303 back to ``path`` (a path of this console) whose page shows ``message`` once."""
    response = RedirectResponse(path, status_code=303)
    response.set_cookie(
        NOTICE_COOKIE,
        quote(message[:_NOTICE_LENGTH], safe=""),
        max_age=_NOTICE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=console_of(request).secure,
        path="/",
    )
    return response


def render_with_notice(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    """Renders ``template`` with the confirmation waiting for this page as ``notice`` (empty if
    none), and removes it from the browser so that it shows once."""
    waiting = request.cookies.get(NOTICE_COOKIE)
    notice = unquote(waiting) if waiting else ""
    response = console_of(request).render(request, template, status, notice=notice, **values)
    if waiting is not None:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    return response


def form_text(form: FormData, name: str) -> str:
    """A field as typed, trimmed, with the line breaks browsers send (CRLF) as newlines."""
    value = form.get(name, "")
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def submitted(form: FormData) -> dict[str, str]:
    """What the user typed, to fill the form again (never the CSRF token, which the page has)."""
    return {key: value for key, value in form.items() if isinstance(value, str) and key != "csrf"}
