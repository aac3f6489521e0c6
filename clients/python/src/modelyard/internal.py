"""Calls only Modelyard's own services make, as their SERVICE principal: not a user API.

The registry commits (or fails) a version's artifact once its bytes are durable; the registry
and deploy services ask whether a caller may act on a project; the deploy service asks for an
inference server's credential; the deploy service claims scoring runs and records their results.
``InternalCalls(client)`` runs them on that client's channels,
blocking or awaited as the client is:

    calls = InternalCalls(client)          # client = modelyard.aio.connect(..., token=own_token)
    decision = await calls.authorize(token, "fraud", ProjectRole.EDITOR, "push", "fraud/scorer:3", True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelyard import _convert as cv
from modelyard import _convert_auth as ca
from modelyard import _wire
from modelyard._calls import MAX_PAGE, Calls, Pages, R, Unary, iterating, unary
from modelyard._connection import AUTH, DATASETS, SCORING
from modelyard._convert_datasets import columns_to_pb
from modelyard._convert_datasets import version_from_pb as dataset_version_from_pb
from modelyard._dataset_types import DatasetColumn, DatasetVersion
from modelyard._metadata_calls import version_of
from modelyard._scoring_calls import claimed_from_pb, run_from_pb
from modelyard._scoring_types import ClaimedScoringRun, ScoringRun
from modelyard._types import Artifact, Authorization, Consumption, ModelVersion, NewToken, ProjectRole
from modelyard.v1 import auth_pb2, datasets_pb2, metadata_pb2, scoring_pb2

__all__ = ["ClaimedScoringRun", "InternalCalls", "ServiceEvent"]


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """An event of what the deploy service keeps in its own tables, for the audit log."""

    origin: str
    source_id: int
    action: str
    project: str
    resource: str
    actor: str
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_pb(self) -> metadata_pb2.ServiceEvent:
        return metadata_pb2.ServiceEvent(
            origin=self.origin,
            source_id=self.source_id,
            action=self.action,
            project=self.project,
            resource=self.resource,
            actor=self.actor,
            reason=self.reason,
            details=cv.struct_to_pb(self.details, "details"),
        )


class InternalCalls(Calls[R]):
    """The internal calls, run by ``client`` (a ``Client`` or an ``AsyncClient``)."""

    def __init__(self, client: Calls[R]) -> None:
        self._runner = client._runner

    @unary
    def authorize(
        self,
        token: str,
        project: str,
        role: ProjectRole | str,
        action: str,
        resource: str,
        mutation: bool,
        consumption: Consumption | None = None,
    ) -> Unary[Authorization]:
        """Registry and deploy services: may the holder of ``token`` do ``action`` on ``resource``,
        needing ``role`` on ``project``? A ``mutation`` is recorded in the audit log, granted or
        not; a denial always is. A granted ``consumption`` records the end caller as a consumer
        of its version."""
        request = auth_pb2.AuthorizeRequest(
            token=token,
            project=project,
            role=ca.role_to_pb(ProjectRole.parse(role)),
            action=action,
            resource=resource,
            mutation=mutation,
            consumption=ca.consumption_to_pb(consumption) if consumption else None,
        )
        return Unary("Authorize", request, ca.authorization_from_pb, service=AUTH)

    @unary
    def create_serving_token(self, reference: str, deployment: str, ttl: timedelta) -> Unary[NewToken]:
        """Deploy service: a credential for one inference server, reading ``reference`` and an
        ensemble's members only, for ``ttl``."""
        request = auth_pb2.CreateServingTokenRequest(reference=reference, deployment=deployment, ttl=ca.ttl_to_pb(ttl))
        return Unary("CreateServingToken", request, ca.new_token_from_pb, service=AUTH)

    @unary
    def commit_artifact(
        self, reference: str, artifact: Artifact, *, on_behalf_of: str | None = None
    ) -> Unary[ModelVersion]:
        """Registry service: the version's bytes are durable and verified. ``on_behalf_of`` is the
        registry's caller, recorded as the actor in the audit log."""
        request = metadata_pb2.CommitArtifactRequest(reference=reference, artifact=cv.artifact_to_pb(artifact))
        return Unary("CommitArtifact", request, version_of, on_behalf_of)

    @unary
    def fail_upload(self, reference: str, reason: str, *, on_behalf_of: str | None = None) -> Unary[ModelVersion]:
        """Registry service: the upload failed or was abandoned (see ``on_behalf_of`` above)."""
        request = metadata_pb2.FailUploadRequest(reference=reference, reason=reason)
        return Unary("FailUpload", request, version_of, on_behalf_of)

    @unary
    def record_service_events(self, events: Sequence[ServiceEvent]) -> Unary[int]:
        """Deploy service: appends its outbox's ``events`` to the audit log, each once (by
        source id); how many were new."""
        request = metadata_pb2.RecordServiceEventsRequest(events=[e.to_pb() for e in events])
        return Unary("RecordServiceEvents", request, lambda r: r.recorded)

    @unary
    def commit_dataset_version(
        self,
        reference: str,
        artifact: Artifact,
        columns: Sequence[DatasetColumn],
        row_count: int,
        *,
        on_behalf_of: str | None = None,
    ) -> Unary[DatasetVersion]:
        """Registry service: a dataset version's bytes are durable and verified, with the schema
        and row count read from them (see ``on_behalf_of`` above)."""
        request = datasets_pb2.CommitDatasetVersionRequest(
            reference=reference,
            artifact=cv.artifact_to_pb(artifact),
            columns=columns_to_pb(columns),
            row_count=row_count,
        )
        return Unary(
            "CommitDatasetVersion", request, lambda r: dataset_version_from_pb(r.version), on_behalf_of, DATASETS
        )

    @unary
    def fail_dataset_version(
        self, reference: str, reason: str, *, on_behalf_of: str | None = None
    ) -> Unary[DatasetVersion]:
        """Registry service: a dataset version's upload failed, or its file is not a table."""
        request = datasets_pb2.FailDatasetVersionRequest(reference=reference, reason=reason)
        return Unary(
            "FailDatasetVersion", request, lambda r: dataset_version_from_pb(r.version), on_behalf_of, DATASETS
        )

    @iterating
    def pending_dataset_versions(self, updated_before: datetime) -> Pages[DatasetVersion]:
        """Registry service: PENDING_UPLOAD dataset versions nobody changed since
        ``updated_before``, oldest first (their upload may be abandoned)."""
        request = datasets_pb2.ListPendingDatasetVersionsRequest(
            updated_before=_wire.time_to_pb(updated_before), page_size=MAX_PAGE
        )
        return Pages(
            "ListPendingDatasetVersions", request, lambda r: map(dataset_version_from_pb, r.versions), service=DATASETS
        )

    @unary
    def claim_scoring_runs(self, runner: str, max_runs: int, lease_seconds: float) -> Unary[list[ClaimedScoringRun]]:
        """Deploy service (its leader): queues the runs of the tests whose schedule came due, then
        leases up to ``max_runs`` runs to ``runner`` for ``lease_seconds`` (a run not recorded by
        then is leased again, its attempt + 1)."""
        request = scoring_pb2.ClaimScoringRunsRequest(runner=runner, max_runs=max_runs, lease_seconds=lease_seconds)
        return Unary("ClaimScoringRuns", request, lambda r: [claimed_from_pb(c) for c in r.runs], service=SCORING)

    @unary
    def record_scoring_result(
        self,
        run_id: str,
        runner: str,
        attempt: int,
        *,
        metrics: Mapping[str, float | Mapping[str, Any]] | None = None,
        rows: int = 0,
        duration_seconds: float = 0.0,
        error: str = "",
    ) -> Unary[ScoringRun]:
        """Deploy service: the outcome of a leased run, named by the lease's ``runner`` and
        ``attempt``: its ``metrics`` (name -> number, or a dict such as confusion_matrix), or
        the ``error`` that kept it from scoring."""
        request = scoring_pb2.RecordScoringResultRequest(
            run_id=run_id,
            runner=runner,
            attempt=attempt,
            metrics=[cv.metric_to_pb(name, value) for name, value in (metrics or {}).items()],
            rows=rows,
            duration_seconds=duration_seconds,
            error=error,
        )
        return Unary("RecordScoringResult", request, lambda r: run_from_pb(r.run), service=SCORING)
