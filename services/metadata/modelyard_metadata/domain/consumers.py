"""Who consumes a version: recorded where the platform already checks access, read by anyone who
may read the version.

The registry (before DownloadFile) and the deploy service (before creating a deployment or moving
one to a version) tell Authorize what the action consumes; once granted, the end caller is
recorded, so that no client can skip it. A serving credential is not recorded: the deployment it
serves is the consumer. A row's last time moves forward at most once a minute, so that a pull of
many files, or many pulls, does not write on every call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelyard_common.errors import InvalidArgumentError, NotFoundError
from modelyard_common.names import check_deployment_name
from modelyard_common.values import Consumption, ConsumptionKind
from modelyard_metadata.domain.entities import Caller, Consumer, ModelVersion, VersionStatus
from modelyard_metadata.domain.ports import ConsumerStore
from modelyard_metadata.domain.validation import parse_reference
from modelyard_metadata.domain.versions import Versions

__all__ = ["Consumers", "check_consumption"]

# A consumer's last time is written at most this often.
RECORD_EVERY = timedelta(minutes=1)
# This process remembers its recent writes to skip them; forgotten all at once past this many.
_REMEMBERED = 10_000


def check_consumption(consumption: Consumption, project: str) -> None:
    """InvalidArgumentError naming the field, unless ``consumption`` is a version of ``project``
    with a deployment name exactly when it is a DEPLOYMENT."""
    if consumption.kind not in (ConsumptionKind.DOWNLOAD, ConsumptionKind.DEPLOYMENT):
        raise InvalidArgumentError("consumption.kind", "must be DOWNLOAD or DEPLOYMENT")
    ref = parse_reference(consumption.reference, "consumption.reference")
    if ref.project != project:
        raise InvalidArgumentError("consumption.reference", f"{consumption.reference!r} is not in project {project!r}")
    if consumption.kind is ConsumptionKind.DEPLOYMENT:
        check_deployment_name(consumption.deployment, "consumption.deployment")
    elif consumption.deployment:
        raise InvalidArgumentError("consumption.deployment", "is only for a DEPLOYMENT")


class Consumers:
    def __init__(self, store: ConsumerStore, versions: Versions) -> None:
        self._store = store
        self._versions = versions
        self._recorded: dict[tuple[str, str, int, str, ConsumptionKind, str], datetime] = {}

    async def record(self, caller: Caller, principal: str, consumption: Consumption) -> None:
        """Records ``principal`` as consuming the READY version ``consumption`` names; ``caller``
        (the service that asked Authorize) looks it up. A version that is not there, or not
        READY, is not consumed: the service's own lookup will say why. A pinned reference
        recorded here within the minute is not even looked up: each file a pull downloads asks
        Authorize, and that is a hot path."""
        ref = parse_reference(consumption.reference, "consumption.reference")
        if ref.version is not None and self._recent(ref.project, ref.model, ref.version, principal, consumption):
            return
        try:
            version = await self._versions.get(caller, consumption.reference, "Authorize")
        except NotFoundError:
            return
        if version.status is not VersionStatus.READY:
            return
        if self._recent(version.project, version.model, version.version, principal, consumption):
            return
        await self._store.record(version.id, principal, consumption.kind, consumption.deployment, RECORD_EVERY)
        if len(self._recorded) >= _REMEMBERED:
            self._recorded.clear()
        key = (version.project, version.model, version.version, principal, consumption.kind, consumption.deployment)
        self._recorded[key] = datetime.now(UTC)

    def _recent(self, project: str, model: str, number: int, principal: str, consumption: Consumption) -> bool:
        """Whether this process recorded that consumption less than RECORD_EVERY ago."""
        last = self._recorded.get((project, model, number, principal, consumption.kind, consumption.deployment))
        return last is not None and datetime.now(UTC) - last < RECORD_EVERY

    async def of_version(self, caller: Caller, reference: str) -> tuple[ModelVersion, list[Consumer], int]:
        """The version, its consumers (most recent first) and how many distinct teams they are in."""
        version = await self._versions.get(caller, reference, "ListVersionConsumers")
        consumers = await self._store.of_version(version.id)
        return version, consumers, len({team for c in consumers for team in c.teams})
