"""What scoring needs from storage; storage/scoring.py implements it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from modelyard_metadata.domain.entities import MetricPoint, ModelVersion
from modelyard_metadata.domain.ports import MetadataTransaction
from modelyard_metadata.domain.scoring_entities import (
    RunState,
    ScoreDefinition,
    ScoringRun,
    ScoringTest,
    Trigger,
)

__all__ = ["ScoringStore", "ScoringTransaction"]


class ScoringTransaction(MetadataTransaction, Protocol):
    async def set_definition(self, model_id: int, definition: ScoreDefinition) -> ScoreDefinition: ...
    async def definition(self, model_id: int) -> ScoreDefinition | None: ...
    async def insert_test(self, test: ScoringTest) -> ScoringTest:
        """ALREADY_EXISTS when the model has a test of that name."""
        ...

    async def lock_test(self, test_id: str) -> ScoringTest | None: ...
    async def update_test(self, test_id: str, changes: Mapping[str, Any]) -> ScoringTest: ...
    async def delete_test(self, test_id: str) -> None: ...
    async def queue_run(
        self,
        test: ScoringTest,
        version: ModelVersion | None,
        trigger: Trigger,
        requested_by: str,
        scheduled_for: datetime | None = None,
    ) -> ScoringRun | None:
        """A QUEUED run of ``test`` (``version`` None: resolved when leased); None when a run
        for the tick ``scheduled_for`` is queued already."""
        ...

    async def lock_due_tests(self, now: datetime, limit: int) -> list[ScoringTest]:
        """Active tests whose next tick is at or before ``now``, locked; those another
        transaction holds are skipped."""
        ...

    async def lock_open_runs(self, limit: int) -> list[tuple[ScoringRun, int, str | None]]:
        """Up to ``limit`` QUEUED runs, and RUNNING ones whose lease ran out, oldest first,
        locked (skipping those another transaction holds); each with its model's id and the
        alias to resolve (None: the version, or the latest READY one)."""
        ...

    async def start_run(self, run_id: str, runner: str, lease_seconds: float, version_id: int) -> ScoringRun:
        """RUNNING, leased to ``runner`` (attempt + 1) on ``version_id``."""
        ...

    async def lock_run(self, run_id: str) -> ScoringRun | None: ...
    async def finish_run(
        self,
        run_id: str,
        state: RunState,
        message: str,
        metrics: Sequence[MetricPoint] = (),
        rows: int = 0,
        duration_seconds: float = 0.0,
    ) -> ScoringRun: ...


class ScoringStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ScoringTransaction]: ...
    async def get_definition(self, model_id: int) -> ScoreDefinition | None: ...
    async def get_test(self, test_id: str) -> ScoringTest | None: ...
    async def list_tests(self, project: str, model: str | None) -> list[ScoringTest]: ...
    async def get_run(self, run_id: str) -> ScoringRun | None: ...
    async def list_runs(
        self, test_id: str | None, version_id: int | None, before: tuple[datetime, str] | None, limit: int
    ) -> list[ScoringRun]:
        """Newest first: a test's runs, or a version's; those created before ``before``."""
        ...
