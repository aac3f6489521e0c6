"""What scoring needs from storage; storage/scoring.py implements it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from modelyard_metadata.domain.entities import ModelVersion
from modelyard_metadata.domain.ports import MetadataTransaction
from modelyard_metadata.domain.scoring_entities import (
    OpenRun,
    RunEnding,
    RunState,
    ScoreDefinition,
    ScoringRun,
    ScoringTest,
    Tick,
    Trigger,
)

__all__ = ["ScoringStore", "ScoringTransaction"]


class ScoringTransaction(MetadataTransaction, Protocol):
    async def set_definition(self, model_id: int, definition: ScoreDefinition) -> ScoreDefinition: ...
    async def definition(self, model_id: int) -> ScoreDefinition | None: ...
    async def definitions(self, model_ids: Collection[int]) -> dict[int, ScoreDefinition]:
        """The definitions of those of ``model_ids`` that have one."""
        ...

    async def insert_test(self, test: ScoringTest) -> ScoringTest:
        """ALREADY_EXISTS when the model has a test of that name."""
        ...

    async def lock_test(self, test_id: str) -> ScoringTest | None: ...
    async def update_test(self, test_id: str, changes: Mapping[str, Any]) -> ScoringTest: ...
    async def delete_test(self, test_id: str) -> None: ...
    async def queue_run(
        self, test: ScoringTest, version: ModelVersion | None, trigger: Trigger, requested_by: str
    ) -> ScoringRun | None:
        """A QUEUED run of ``test`` (``version`` None: its version, or resolved when leased)."""
        ...

    async def lock_due_tests(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(id, schedule) of the active tests whose next tick is at or before ``now``, locked;
        those another transaction holds are skipped."""
        ...

    async def queue_ticks(self, ticks: Sequence[Tick], requested_by: str) -> None:
        """For each tick, in one statement: a QUEUED run of its test for it (none when one was
        queued for that tick already), and the test's next tick set."""
        ...

    async def lock_open_runs(self, limit: int) -> list[OpenRun]:
        """Up to ``limit`` QUEUED runs, and RUNNING ones whose lease ran out, oldest first,
        locked (skipping those another transaction holds)."""
        ...

    async def start_runs(
        self, starts: Sequence[tuple[str, int]], runner: str, lease_seconds: float
    ) -> list[ScoringRun]:
        """Each run of ``starts`` (run id, version id) RUNNING on that version, leased to
        ``runner`` (attempt + 1), in one statement; in the order given."""
        ...

    async def lock_run(self, run_id: str) -> ScoringRun | None: ...
    async def finish_runs(self, endings: Sequence[RunEnding]) -> list[ScoringRun]:
        """Each run ended as its ending says, in one statement; in the order given."""
        ...


class ScoringStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ScoringTransaction]: ...
    async def get_definition(self, model_id: int) -> ScoreDefinition | None: ...
    async def get_test(self, test_id: str) -> ScoringTest | None: ...
    async def list_tests(self, project: str, model: str | None) -> list[ScoringTest]: ...
    async def get_run(self, run_id: str) -> ScoringRun | None: ...
    async def list_runs(
        self,
        test_id: str | None,
        version_id: int | None,
        state: RunState | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ScoringRun]:
        """Newest first: a test's runs, a version's, or a test's on a version (at least one is
        given), in ``state`` (None: any); those created before ``before``."""
        ...
