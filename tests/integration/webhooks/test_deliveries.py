"""Webhook deliveries to a real receiver on loopback: signed, in order, retried until they land."""

from __future__ import annotations

import ipaddress

import pytest
from webhook_receiver import Receiver, eventually

import modelyard
from modelyard.errors import InvalidArgumentError, NotFoundError
from modelyard_metadata.domain.webhook_destinations import Destinations
from modelyard_metadata.storage.webhook_http import HttpSender


def _versions(client: modelyard.Client, project: str, count: int) -> list[int]:
    return [client.create_version(f"{project}/scorer").version for _ in range(count)]


def _created(receiver: Receiver) -> list[str]:
    return [e["resource"] for e in receiver.events() if e["kind"] == "version.created"]


def test_deliveries_are_signed_and_sent_in_order(client: modelyard.Client, project: str, receiver: Receiver) -> None:
    hook = client.create_webhook(project, receiver.url, kinds=["version.created", "alias.moved"])
    assert hook.subscription.kinds == ("alias.moved", "version.created")
    numbers = _versions(client, project, 3)
    client.set_alias(f"{project}/scorer", "champion", numbers[-1], reason="best so far")

    eventually(lambda: len(receiver.events()) >= 4, what="four deliveries")
    events = receiver.events()
    assert [e["kind"] for e in events] == ["version.created"] * 3 + ["alias.moved"]
    assert [e["resource"] for e in events[:3]] == [f"{project}/scorer:{n}" for n in numbers]
    assert events[3]["data"]["reason"] == "best so far" and events[3]["project"] == project
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    first = receiver.received[0]
    assert first.signed_by(hook.secret)
    assert first.headers["modelyard-event"] == "version.created"
    assert not first.signed_by("whsec_someone-else")

    # The receiver holds a request before the deliverer has recorded its answer.
    eventually(
        lambda: [d.state for d in client.webhook_deliveries(hook.subscription.id)] == ["DELIVERED"] * 4,
        what="four deliveries recorded",
    )
    log = list(client.webhook_deliveries(hook.subscription.id))
    assert [(d.state, d.response_code, d.attempts) for d in log] == [("DELIVERED", 200, 1)] * 4
    assert [d.event_id for d in reversed(log)] == [e["id"] for e in events]
    assert client.get_webhook(hook.subscription.id).backlog == 0


def test_a_receiver_that_fails_gets_every_event_in_order_once_it_recovers(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    receiver.status = 500
    hook = client.create_webhook(project, receiver.url, kinds=["version.created"])
    numbers = _versions(client, project, 3)

    def retried() -> bool:
        head = list(client.webhook_deliveries(hook.subscription.id))[-1]
        return head.attempts >= 3 and head.response_code == 500 and head.error == "nope..."

    eventually(retried, what="three failed attempts")
    failing = client.get_webhook(hook.subscription.id)
    assert failing.failing and failing.backlog == 3
    assert receiver.events() == []
    receiver.status = 204
    eventually(lambda: len(_created(receiver)) == 3, what="three deliveries after recovery")
    assert _created(receiver) == [f"{project}/scorer:{n}" for n in numbers]
    eventually(lambda: not client.get_webhook(hook.subscription.id).failing, what="failing cleared")


def test_a_receiver_that_hangs_is_timed_out_and_retried(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    receiver.hang()
    hook = client.create_webhook(project, receiver.url)
    (number,) = _versions(client, project, 1)

    def timed_out() -> bool:
        return any("no answer within 1 s" in d.error for d in client.webhook_deliveries(hook.subscription.id))

    eventually(timed_out, what="a timed-out attempt")
    receiver.release()
    eventually(lambda: _created(receiver) == [f"{project}/scorer:{number}"], what="the delivery after the hang")


def test_rotation_signs_with_both_secrets_during_the_grace(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    hook = client.create_webhook(project, receiver.url, kinds=["version.created"])
    rotated = client.rotate_webhook_secret(hook.subscription.id)
    assert rotated.secret != hook.secret and rotated.subscription.previous_secret_expires_at is not None
    _versions(client, project, 1)
    eventually(lambda: receiver.received, what="a delivery")
    delivery = receiver.received[0]
    assert delivery.signed_by(hook.secret) and delivery.signed_by(rotated.secret)
    assert delivery.headers["modelyard-signature"].count("v1=") == 2


def test_redeliver_sends_the_event_again_and_ping_answers(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    hook = client.create_webhook(project, receiver.url, kinds=["version.created"])
    ping = client.ping_webhook(hook.subscription.id)
    assert (ping.response_code, ping.error) == (200, "")
    assert receiver.events()[0]["kind"] == "ping"
    assert receiver.received[0].signed_by(hook.secret)

    _versions(client, project, 1)
    first = eventually(lambda: _created(receiver) and receiver.events()[-1], what="a delivery")
    again = client.redeliver_webhook(hook.subscription.id, first["id"])
    assert (again.state, again.event_id) == ("PENDING", first["id"])
    eventually(lambda: len(_created(receiver)) == 2, what="the redelivery")
    assert receiver.events()[-1] == first

    with pytest.raises(NotFoundError, match="never queued"):
        client.redeliver_webhook(hook.subscription.id, first["id"] - 1)


def test_a_url_outside_the_allowed_hosts_is_refused_naming_the_field(client: modelyard.Client, project: str) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"url: '10\.1\.2\.3' resolves to 10\.1\.2\.3, which webhook_allowed_hosts"
    ):
        client.create_webhook(project, "http://10.1.2.3/hook")
    with pytest.raises(InvalidArgumentError, match=r"url: 'ftp://127\.0\.0\.1/x' is not an http:// or https:// URL"):
        client.create_webhook(project, "ftp://127.0.0.1/x")
    with pytest.raises(InvalidArgumentError, match=r"kinds\[0\]: unknown event kind 'version.deleted'"):
        client.create_webhook(project, "http://127.0.0.1/hook", kinds=["version.deleted"])


def test_an_inactive_subscription_queues_nothing_and_updates_keep_what_is_not_given(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    hook = client.create_webhook(project, receiver.url, kinds=["version.ready"], description="ci")
    hook_id = hook.subscription.id
    paused = client.update_webhook(hook_id, active=False, kinds=["version.created"])
    assert (paused.active, paused.kinds, paused.url, paused.description) == (
        False,
        ("version.created",),
        receiver.url,
        "ci",
    )
    _versions(client, project, 1)
    resumed = client.update_webhook(hook_id, active=True)
    (number,) = _versions(client, project, 1)
    eventually(lambda: _created(receiver), what="a delivery once active")
    assert _created(receiver) == [f"{project}/scorer:{number}"]
    assert len(list(client.webhook_deliveries(hook_id))) == 1 and resumed.kinds == ("version.created",)

    with pytest.raises(InvalidArgumentError, match=r"url: cannot resolve 'example\.invalid'"):
        client.update_webhook(hook_id, url="http://example.invalid/hook")
    client.delete_webhook(hook_id)
    with pytest.raises(NotFoundError, match=f"webhook subscription '{hook_id}' does not exist"):
        client.get_webhook(hook_id)


def test_a_ping_is_in_the_delivery_log_and_a_failed_one_is_not_retried(
    client: modelyard.Client, project: str, receiver: Receiver, dead_end_url: str
) -> None:
    hook = client.create_webhook(project, receiver.url).subscription
    assert client.ping_webhook(hook.id).response_code == 200
    (logged,) = client.webhook_deliveries(hook.id)
    assert (logged.kind, logged.state, logged.attempts, logged.response_code) == ("ping", "DELIVERED", 1, 200)
    sent = receiver.received[0]
    assert (sent.event["id"], sent.headers["modelyard-delivery"]) == (logged.event_id, logged.id)
    assert any(e.action == "webhook.ping" and e.id == logged.event_id for e in client.audit_events(project=project))

    dead = client.create_webhook(project, dead_end_url).subscription
    assert client.ping_webhook(dead.id).response_code == 0
    (failed,) = client.webhook_deliveries(dead.id)
    assert (failed.kind, failed.state, failed.attempts) == ("ping", "FAILED", 1)
    assert "ConnectError" in failed.error
    assert client.get_webhook(dead.id).backlog == 0
    with pytest.raises(NotFoundError, match="never queued"):
        client.redeliver_webhook(dead.id, failed.event_id)


def test_a_delivery_connects_to_the_address_checked_and_names_the_urls_host(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    hook = client.create_webhook(project, by_name).subscription
    assert client.ping_webhook(hook.id).response_code == 200
    assert receiver.received[0].headers["host"] == by_name.split("/")[2]


async def test_an_attempt_tries_the_checked_addresses_in_order_until_one_connects(receiver: Receiver) -> None:
    sender = HttpSender(Destinations(["127.0.0.0/8"]), timeout_seconds=2)
    try:
        by_name = receiver.url.replace("127.0.0.1", "receiver.test")
        addresses = [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]
        response = await sender.send_first(by_name, addresses, b"{}", {"content-type": "application/json"})
        await response.aclose()
    finally:
        await sender.close()
    assert response.status_code == 200
    assert receiver.received[0].headers["host"] == by_name.split("/")[2]
