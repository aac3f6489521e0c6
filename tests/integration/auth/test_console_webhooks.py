"""The console's webhook pages against a real metadata service with authentication on that may
post to loopback, and a real receiver there (webhook_receiver.py): a project admin subscribes
it through the form (the secret shown once signs what the receiver gets), pings it and reads
the answer's code on the page, then redelivers, deactivates, rotates and deletes, each checked
against the API; a viewer gets the service's refusal and nothing of the subscriptions; a
refused form keeps what was typed; and the pages in a real browser, checked by axe."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape

import pytest
from auth_sessions import AuthTokens
from console_browser import (
    console_process,
    followed,
    form_field,
    marked_text,
    picture,
    post_form,
    sign_in,
    signed_in,
    tab,
    violations,
)
from playwright.sync_api import Browser, expect
from webhook_receiver import Receiver, eventually

import modelyard
import modelyard.errors
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess


@dataclass(frozen=True)
class Hooks:
    metadata: ServiceProcess
    console: HttpServiceProcess
    admin: str  # tokens: the project's ADMIN, a viewer of it
    viewer: str
    project: str

    def client(self, token: str) -> modelyard.Client:
        return modelyard.connect(self.metadata.target, token=token)


@pytest.fixture(scope="module")
def hooks(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    auth_tokens: AuthTokens,
    launch_metadata: Callable[..., ServiceProcess],
) -> Iterator[Hooks]:
    """A metadata service of its own (authentication on, loopback receivers allowed), a console
    on it, and a project with its admin and a viewer."""
    dsn = postgres.create_database(f"console_hooks_{uuid.uuid4().hex[:8]}")
    settings = {
        **auth_tokens.metadata_settings(),
        "webhook_allowed_hosts": '["127.0.0.0/8"]',
        "webhook_poll_seconds": "0.2",  # deliveries (and redeliveries) go out within 0.2 s, not 5
    }
    metadata = launch_metadata(tmp_path_factory.mktemp("hooks-metadata"), dsn, redis_server.url, **settings)
    suffix = uuid.uuid4().hex[:8]
    project, tokens = f"hooks-{suffix}", {}
    with modelyard.connect(metadata.target, token=auth_tokens.admin) as platform_admin:
        for who in ("admin", "viewer"):
            platform_admin.create_principal(f"{who}-{suffix}")
            tokens[who] = platform_admin.create_token(f"{who}-{suffix}", description="console webhooks").secret
    with modelyard.connect(metadata.target, token=tokens["admin"]) as admin:
        admin.create_project(project)
        admin.set_project_role(project, f"viewer-{suffix}", "viewer")
        admin.create_model(f"{project}/scorer")
    try:
        with console_process(tmp_path_factory.mktemp("hooks-console"), metadata.target, redis_server.url) as console:
            yield Hooks(metadata, console, tokens["admin"], tokens["viewer"], project)
    finally:
        metadata.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def _deliveries(html: str) -> list[tuple[str, ...]]:
    """The delivery log's rows: kind, response code, attempts."""
    rows = re.findall(r'<tr data-delivery="[^"]*">(.*?)</tr>', html, re.S)
    return [
        tuple(marked_text(row, f'data-field="{name}"') for name in ("kind", "response", "attempts")) for row in rows
    ]


def test_an_admin_subscribes_a_receiver_pings_it_and_sees_its_answer_then_changes_and_deletes_it(
    hooks: Hooks, receiver: Receiver
) -> None:
    listing = f"/projects/{hooks.project}/webhooks"
    with signed_in(hooks.console, hooks.admin) as browser:
        created = post_form(
            browser, listing, listing, {"url": receiver.url, "kinds": ["version.created"], "description": "ci <b>"}
        )
        assert created.status_code == 201, created.text
        secret = marked_text(created.text, 'data-field="secret"')
        with hooks.client(hooks.admin) as api:
            (subscription,) = api.webhooks(hooks.project)
        page = f"{listing}/{subscription.id}"
        assert subscription.kinds == ("version.created",) and subscription.description == "ci <b>"
        assert secret not in browser.get(page).text  # shown once

        html, notice = followed(browser, post_form(browser, page, f"{page}/ping", {}))
        assert re.fullmatch(r"The receiver answered the ping with HTTP 200 in [0-9.]+ s\.", notice)
        assert _deliveries(html) == [("ping", "200", "1")]
        (ping,) = receiver.received
        assert ping.event["kind"] == "ping" and ping.signed_by(secret)

        with hooks.client(hooks.admin) as api:
            api.create_version(f"{hooks.project}/scorer")
            event = eventually(lambda: next((e for e in receiver.events() if e["kind"] == "version.created"), None))
        html, notice = followed(browser, post_form(browser, page, f"{page}/redeliver", {"event_id": str(event["id"])}))
        assert notice == f"Event {event['id']} (version.created) is queued again; it is sent next."
        eventually(lambda: [e["id"] for e in receiver.events()].count(event["id"]) == 2, what="the redelivery")

        _, notice = followed(browser, post_form(browser, page, f"{page}/active", {"active": "false"}))
        assert notice == "The subscription is inactive: no event is queued for it."
        rotated = post_form(browser, page, f"{page}/rotate", {})
        assert rotated.status_code == 200
        new_secret = marked_text(rotated.text, 'data-field="secret"')
        with hooks.client(hooks.admin) as api:
            after = api.get_webhook(subscription.id)
            assert not after.active and after.previous_secret_expires_at is not None
            api.ping_webhook(subscription.id)
        assert new_secret != secret and receiver.received[-1].signed_by(new_secret)
        assert receiver.received[-1].signed_by(secret)  # the previous one signs beside it for a while

        listed, notice = followed(browser, post_form(browser, page, f"{page}/delete", {}))
        assert notice == f"The subscription to {receiver.url} is deleted."
        assert f'data-subscription="{subscription.id}"' not in listed
    with hooks.client(hooks.admin) as api:
        assert api.webhooks(hooks.project) == []
        actions = [e.action for e in api.audit_events(project=hooks.project, limit=20)]
    assert {"webhook.create", "webhook.update", "webhook.rotate_secret", "webhook.delete"} <= set(actions)


def test_the_delivery_log_pages_newest_first(hooks: Hooks, receiver: Receiver) -> None:
    with hooks.client(hooks.admin) as api:
        subscription = api.create_webhook(hooks.project, receiver.url).subscription
        for _ in range(27):
            api.ping_webhook(subscription.id)
        expected = [d.id for d in api.webhook_deliveries(subscription.id)]
        page = f"/projects/{hooks.project}/webhooks/{subscription.id}"
        with signed_in(hooks.console, hooks.admin) as browser:
            first = browser.get(page).text
            older = re.search(r'<a rel="next" href="([^"]*)">Older deliveries</a>', first)
            assert older
            second = browser.get(unescape(older[1])).text
        api.delete_webhook(subscription.id)
    shown = [re.findall(r'<tr data-delivery="([^"]*)">', html) for html in (first, second)]
    assert shown == [expected[:25], expected[25:]]
    assert "Older deliveries" not in second and f'href="{page}">Newest</a>' in second


def test_a_viewer_gets_the_services_refusal_and_nothing_of_the_subscriptions(hooks: Hooks, receiver: Receiver) -> None:
    with hooks.client(hooks.admin) as admin:
        subscription = admin.create_webhook(hooks.project, receiver.url).subscription
    try:
        with hooks.client(hooks.viewer) as viewer, pytest.raises(modelyard.errors.PermissionDeniedError) as refused:
            viewer.webhooks(hooks.project)
        with signed_in(hooks.console, hooks.viewer) as browser:
            listing = browser.get(f"/projects/{hooks.project}/webhooks")
            one = browser.get(f"/projects/{hooks.project}/webhooks/{subscription.id}")
            form = browser.get(f"/projects/{hooks.project}")
            ping = browser.post(
                f"/projects/{hooks.project}/webhooks/{subscription.id}/ping",
                data={"csrf": form_field(form.text, "csrf")},
            )
        for page in (listing, one, ping):
            assert page.status_code == 403
            assert receiver.url not in page.text and subscription.id not in page.text.split("</header>")[1]
        assert unescape(marked_text(listing.text, 'class="error" role="alert"')) == refused.value.message
        assert receiver.answered == []  # the viewer's ping sent nothing
    finally:
        with hooks.client(hooks.admin) as admin:
            admin.delete_webhook(subscription.id)


def test_a_refused_subscription_shows_the_services_message_beside_the_form_and_keeps_what_was_typed(
    hooks: Hooks,
) -> None:
    listing = f"/projects/{hooks.project}/webhooks"
    with hooks.client(hooks.admin) as api, pytest.raises(modelyard.errors.InvalidArgumentError) as refused:
        api.create_webhook(hooks.project, "http://10.0.0.1/hook")
    with signed_in(hooks.console, hooks.admin) as browser:
        fields: dict[str, str | list[str]] = {
            "url": "http://10.0.0.1/hook",
            "kinds": ["alias.moved", "version.ready"],
            "description": "mine",
        }
        answer = post_form(browser, listing, listing, fields)
    assert answer.status_code == 400
    shown = re.search(r'data-refused="create">Refused: ([^<]*)</p>', answer.text)
    assert shown and unescape(shown[1]) == refused.value.message
    assert 'value="http://10.0.0.1/hook"' in answer.text and 'value="mine"' in answer.text
    ticked = re.findall(r'name="kinds" value="([^"]*)" checked', answer.text)
    assert ticked == ["version.ready", "alias.moved"]
    with hooks.client(hooks.admin) as api:
        assert api.webhooks(hooks.project) == []


def test_a_refused_redelivery_shows_why_beside_its_form_and_keeps_the_number_typed(
    hooks: Hooks, receiver: Receiver
) -> None:
    with hooks.client(hooks.admin) as api:
        subscription = api.create_webhook(hooks.project, receiver.url).subscription
        with pytest.raises(modelyard.errors.ModelyardError) as refused:
            api.redeliver_webhook(subscription.id, 999999)
    page = f"/projects/{hooks.project}/webhooks/{subscription.id}"
    try:
        with signed_in(hooks.console, hooks.admin) as browser:
            unknown = post_form(browser, page, f"{page}/redeliver", {"event_id": "999999"})
            mistyped = post_form(browser, page, f"{page}/redeliver", {"event_id": "12a"})
        for answer, message in (
            (unknown, refused.value.message),
            (mistyped, "event_id: '12a' is not an event's number"),
        ):
            shown = re.search(r'data-refused="redeliver">Refused: ([^<]*)</p>', answer.text)
            assert shown and unescape(shown[1]) == message
            assert answer.status_code == (404 if answer is unknown else 400)
        assert 'name="event_id" inputmode="numeric" required value="12a"' in mistyped.text
    finally:
        with hooks.client(hooks.admin) as api:
            api.delete_webhook(subscription.id)


def test_in_the_browser_an_admin_subscribes_and_pings_with_the_keyboard_without_axe_violations(
    hooks: Hooks, receiver: Receiver, chromium: Browser
) -> None:
    with tab(chromium) as page:
        sign_in(page, hooks.console, hooks.admin, f"/projects/{hooks.project}")
        page.get_by_role("navigation", name=f"Project {hooks.project}").get_by_role("link", name="Webhooks").click()
        page.get_by_label("URL the events are POSTed to").fill(receiver.url)
        page.get_by_label("version.ready").check()
        page.get_by_label("Description").fill("the receiver")
        page.get_by_label("Description").press("Enter")
        expect(page.get_by_role("heading", name="Signing secret")).to_be_visible()
        assert violations(page) == []
        page.get_by_role("button", name="Ping the receiver").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("The receiver answered the ping with HTTP 200")
        expect(page.locator('tr[data-delivery] [data-field="response"]')).to_have_text(["200"])
        assert violations(page) == []
        picture(page, "webhook")
        page.get_by_role("link", name="webhooks", exact=True).click()
        expect(page.locator('[data-field="kinds"]')).to_have_text(["version.ready"])
        assert violations(page) == []
    with hooks.client(hooks.admin) as api:
        for subscription in api.webhooks(hooks.project):
            api.delete_webhook(subscription.id)
