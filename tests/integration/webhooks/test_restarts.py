"""The queue lives in Postgres: replicas share it, one at a time per subscription, and a restart
mid-backlog loses nothing. A database of its own, so that no other replica delivers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from webhook_receiver import Receiver, eventually

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess


def test_a_restart_mid_backlog_loses_nothing_and_replicas_send_each_event_once(
    tmp_path: Path,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    launch_metadata: Callable[..., ServiceProcess],
    webhook_settings: dict[str, str],
    receiver: Receiver,
) -> None:
    dsn = postgres.create_database(f"webhook_restarts_{uuid.uuid4().hex[:8]}")
    started: list[ServiceProcess] = []

    def start() -> ServiceProcess:
        started.append(launch_metadata(tmp_path / str(len(started)), dsn, redis_server.url, **webhook_settings))
        return started[-1]

    def created() -> list[str]:
        return [e["resource"] for e in receiver.events()]

    try:
        first, second = start(), start()
        receiver.status = 503
        with modelyard.connect(first.target, actor="tester") as client:
            client.create_project("fraud")
            client.create_model("fraud/scorer")
            hook = client.create_webhook("fraud", receiver.url, kinds=["version.created"])
            for _ in range(3):
                client.create_version("fraud/scorer")
            eventually(lambda: 503 in receiver.answered, what="a failed attempt")
        first.stop()
        second.stop()

        receiver.status = 200
        start()
        fourth = start()
        eventually(lambda: len(created()) == 3, what="the backlog sent after the restart")
        with modelyard.connect(fourth.target, actor="tester") as client:
            for _ in range(4):
                client.create_version("fraud/scorer")
            eventually(lambda: len(created()) == 7, what="new events through two replicas")
            log = list(client.webhook_deliveries(hook.subscription.id))
        assert created() == [f"fraud/scorer:{n}" for n in range(1, 8)]
        assert {d.state for d in log} == {"DELIVERED"} and len(log) == 7
    finally:
        for service in started:
            service.stop()
