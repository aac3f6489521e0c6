"""Webhooks with authentication on: only a project's ADMIN manages them; a caller who cannot
read the project is not told a subscription exists; the secret stays out of the audit log; the
service's default settings refuse to post inside the network."""

from __future__ import annotations

import uuid

import pytest
from auth_sessions import Team

from modelyard.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError

# A public address (example.com's): allowed by the default settings. Nothing is sent to it,
# as the test makes no change the subscription would be sent.
PUBLIC_URL = "https://93.184.215.14/hook"


def test_only_a_project_admin_manages_webhooks(team: Team) -> None:
    hook = team.owner.create_webhook(team.project, PUBLIC_URL, description="ci")
    hook_id = hook.subscription.id
    assert team.owner.get_webhook(hook_id).created_by == team.names["owner"]

    with pytest.raises(PermissionDeniedError, match="ADMIN"):
        team.viewer.create_webhook(team.project, PUBLIC_URL)
    for call in (
        lambda: team.viewer.webhooks(team.project),
        lambda: team.viewer.get_webhook(hook_id),
        lambda: team.viewer.ping_webhook(hook_id),
        lambda: team.viewer.rotate_webhook_secret(hook_id),
        lambda: list(team.viewer.webhook_deliveries(hook_id)),
    ):
        with pytest.raises(PermissionDeniedError):
            call()

    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as unknown:
        team.stranger.get_webhook(missing)
    with pytest.raises(NotFoundError) as hidden:
        team.stranger.get_webhook(hook_id)
    assert str(hidden.value).replace(hook_id, missing) == str(unknown.value)
    with pytest.raises(NotFoundError):
        team.stranger.delete_webhook(hook_id)

    events = list(team.owner.audit_events(project=team.project))
    assert "webhook.create" in {e.action for e in events}
    assert hook.secret not in repr(events)
    team.owner.delete_webhook(hook_id)
    assert team.owner.webhooks(team.project) == []


def test_the_default_settings_refuse_loopback_and_private_addresses(team: Team) -> None:
    for url, address in (("http://127.0.0.1:7410/", "127.0.0.1"), ("http://169.254.169.254/latest", "169.254.169.254")):
        with pytest.raises(InvalidArgumentError, match=f"url: .* resolves to {address}, which webhook_allowed_hosts"):
            team.owner.create_webhook(team.project, url)
    with pytest.raises(InvalidArgumentError, match="url: 'localhost' resolves to"):
        team.owner.create_webhook(team.project, "http://localhost/hook")
