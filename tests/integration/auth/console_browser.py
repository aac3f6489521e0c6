"""A console process for the tests, and browsers for them: httpx signed in through the sign-in
form, with readers of the HTML the pages answer; and a real Chromium's tabs (the ``chromium``
fixture of conftest.py), with axe-core's verdict on a page and the pictures `make screenshots`
takes for docs/console.md."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import quote

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Response

from modelyard_common.embedded.service import HttpServiceProcess

AXE = Path(__file__).resolve().parents[2] / "vendor" / "axe-core-4.14.1.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
# `make screenshots` sets it: where the browser tests leave the pictures of docs/console.md.
SCREENSHOTS = os.environ.get("MODELYARD_SCREENSHOTS")


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


def post_form(browser: httpx.Client, page: str, action: str, fields: dict[str, str | list[str]]) -> httpx.Response:
    """Sends a form of ``page`` as the browser would: with the CSRF token the page carries."""
    form = browser.get(page)
    assert form.status_code == 200, form.text
    return browser.post(action, data={"csrf": form_field(form.text, "csrf"), **fields})


def followed(browser: httpx.Client, answer: httpx.Response) -> tuple[str, str]:
    """The page a change redirected to, and its one-line confirmation."""
    assert answer.status_code == 303, answer.text
    page = browser.get(answer.headers["location"])
    assert page.status_code == 200
    notice = re.search(r'<p class="notice" role="status">([^<]*)</p>', page.text)
    assert notice, "no confirmation"
    return page.text, unescape(notice[1])


def marked_text(html: str, marker: str) -> str:
    """The text of the element carrying ``marker`` (an attribute and its value)."""
    found = re.search(rf"{re.escape(marker)}>([^<]*)<", html)
    assert found, f"nothing marked {marker}"
    return found[1]


@contextmanager
def tab(chromium: Browser, *, real_policy: bool = False) -> Iterator[Page]:
    """A page in a browser context of its own. Unless ``real_policy``, the context bypasses the
    Content-Security-Policy so that the test may inject axe-core (the pages carry no inline
    script). A script error, a blocked load or a refused stylesheet, script or stream fails the
    test; a refused page (the document's own status) does not, as refusals are shown."""
    context = chromium.new_context(bypass_csp=not real_policy, viewport={"width": 1100, "height": 720})
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs each 4xx answer too; the responses are judged below, by what they were for.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    try:
        yield page
        assert errors == [], errors
    finally:
        context.close()


def sign_in(page: Page, console: HttpServiceProcess, token: str, then: str = "/") -> None:
    """Signs in through the form with the keyboard, and lands on ``then``."""
    page.goto(f"{console.url}/sign-in?next={quote(then, safe='')}")
    page.get_by_label("API token").fill(token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}{then}")


def violations(page: Page) -> list[str]:
    """What axe-core finds on the page (WCAG 2 A and AA rules), one line each."""
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "tests/vendor/axe-core changed"
    page.evaluate(source.decode())
    found = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => r.violations)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}: {', '.join(str(n['target']) for n in v['nodes'][:3])})"
        for v in found
    ]


def picture(shown: Page | Locator, name: str) -> None:
    """docs/img/console/NAME.png under `make screenshots`: a whole page, or one part of one."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        path = str(Path(SCREENSHOTS) / f"{name}.png")
        if isinstance(shown, Page):
            shown.screenshot(path=path, full_page=True)
        else:
            shown.screenshot(path=path)
