"""The metadata service, reached through the modelyard client like any other caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from modelyard import AsyncClient
from modelyard.internal import InternalCalls, ServiceEvent
from modelyard_deploy.domain.entities import VersionInfo
from modelyard_deploy.domain.events import OutboxEvent

__all__ = ["MetadataCatalog", "MetadataEvents", "ServingCredentials"]


class MetadataCatalog:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def resolve(self, reference: str) -> VersionInfo:
        version = await self._client.get_version(reference)
        return VersionInfo(reference=version.reference, project=version.project, status=version.status)


class ServingCredentials:
    """Serving credentials from the metadata service: what an inference server reads its version
    with (never this service's own token, which model code must not see)."""

    def __init__(self, client: AsyncClient, ttl: timedelta) -> None:
        self._calls = InternalCalls(client)
        self.ttl = ttl

    async def issue(self, deployment: str, version_reference: str, ttl: timedelta | None = None) -> str:
        issued = await self._calls.create_serving_token(version_reference, deployment, ttl or self.ttl)
        return issued.secret


class MetadataEvents:
    """Where the leader forwards the outbox: the metadata service's audit log."""

    def __init__(self, client: AsyncClient) -> None:
        self._calls = InternalCalls(client)

    async def record(self, origin: str, events: Sequence[OutboxEvent]) -> None:
        await self._calls.record_service_events(
            [
                ServiceEvent(origin, e.source_id, e.action, e.project, e.resource, e.actor, e.reason, e.details)
                for e in events
            ]
        )
