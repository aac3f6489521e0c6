"""The delivery log keeps delivered rows for ``webhook_log_retention_seconds``: the worker prunes
older ones, never a pending one. A service with a one-second retention, on the webhook database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from webhook_receiver import Receiver, eventually

import modelyard
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess


def test_delivered_rows_past_the_retention_are_pruned_and_pending_ones_stay(
    tmp_path: Path,
    webhook_dsn: str,
    redis_server: EmbeddedRedis,
    launch_metadata: Callable[..., ServiceProcess],
    webhook_settings: dict[str, str],
    receiver: Receiver,
) -> None:
    service = launch_metadata(
        tmp_path, webhook_dsn, redis_server.url, **webhook_settings, webhook_log_retention_seconds="1"
    )
    try:
        with modelyard.connect(service.target, actor="tester") as client:
            client.create_project("pruned")
            client.create_model("pruned/scorer")
            hook = client.create_webhook("pruned", receiver.url).subscription
            assert client.ping_webhook(hook.id).response_code == 200
            receiver.status = 503
            client.create_version("pruned/scorer")

            def pending_only() -> list[modelyard.WebhookDelivery] | None:
                log = list(client.webhook_deliveries(hook.id))
                return log if [d.kind for d in log] == ["version.created"] else None

            (left,) = eventually(pending_only, what="the ping pruned")
            assert left.state == "PENDING"
            eventually(lambda: client.get_webhook(hook.id).backlog == 1 and len(receiver.answered) >= 4, what="retries")
            assert [d.kind for d in client.webhook_deliveries(hook.id)] == ["version.created"]
    finally:
        service.stop()
