"""A console process for the tests, and a browser for them: httpx signed in through the sign-in form, and readers of
the HTML the pages answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path

import httpx

from modelyard_common.embedded.service import HttpServiceProcess


@contextmanager
def console_process(folder: Path, metadata: str, redis_url: str, **settings: str) -> Iterator[HttpServiceProcess]:
    """A console of the metadata service at ``metadata``; ``settings`` are more MLREG_CONSOLE_*
    values (``registry_addr``/``deploy_addr`` where the metadata service cannot announce them)."""
    service = HttpServiceProcess(
        "console",
        "modelyard_console",
        folder,
        {"metadata_addr": metadata, "redis_url": redis_url, "shutdown_grace_seconds": "1", **settings},
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def signed_in(console: HttpServiceProcess, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=30) as browser:
        form = browser.get("/sign-in")
        answer = browser.post("/sign-in", data={"csrf": form_field(form.text, "csrf"), "token": token, "next": "/"})
        assert answer.status_code == 303, answer.text
        yield browser


def form_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return unescape(found[1])


def marked_text(html: str, marker: str) -> str:
    """The text of the element carrying ``marker`` (an attribute and its value)."""
    found = re.search(rf"{re.escape(marker)}>([^<]*)<", html)
    assert found, f"nothing marked {marker}"
    return found[1]
