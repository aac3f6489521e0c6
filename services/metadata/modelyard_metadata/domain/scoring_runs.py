"""Scoring runs: reading them, and the deploy service's side of them: the scheduler and the leases
(ClaimScoringRuns), and the outcomes (RecordScoringResult).

ClaimScoringRuns does, in one transaction: queue one run per test whose schedule came due, for
its latest tick (a replica down for ten ticks queues one run, not ten; the unique index on
(test, tick) makes a second caller's attempt a no-op), advance each test's next tick, then lease
up to ``max_runs`` runs (queued ones, and running ones whose lease ran out, attempt + 1), each
resolved to the version it scores. A run whose version cannot be resolved ends in ERROR there.
RecordScoringResult accepts only the runner and attempt holding the lease: a runner whose lease
ran out cannot overwrite the result of the one leased after it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_metadata.domain.access import AccessDenied, Duty
from modelyard_metadata.domain.entities import (
    Caller,
    MetricPoint,
    MetricSource,
    ModelVersion,
    NewAuditEvent,
    Stage,
    VersionStatus,
)
from modelyard_metadata.domain.guard import Guard, may_read
from modelyard_metadata.domain.limits import MAX_CLAIMED_RUNS, MAX_DUE_TESTS, MAX_LEASE_SECONDS, MAX_NAME, MAX_TEXT
from modelyard_metadata.domain.lookups import find_version, lock_version
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.scoring import ScoringTests, check_id
from modelyard_metadata.domain.scoring_checks import latest_tick, next_tick
from modelyard_metadata.domain.scoring_entities import (
    ClaimedRun,
    OpenRun,
    RunEnding,
    RunState,
    ScoreDefinition,
    ScoringRun,
    Tick,
    failed_thresholds,
)
from modelyard_metadata.domain.scoring_ports import ScoringStore, ScoringTransaction
from modelyard_metadata.domain.validation import (
    VersionRef,
    check_metric_points,
    check_structured_total,
    check_text,
    parse_reference,
)

__all__ = ["ScoringRuns"]


# Called with each finished run and the stage of the version it scored (the metrics).
Finished = Callable[[ScoringRun, Stage | None], None]


def _run_resource(run: ScoringRun) -> str:
    return run.model_version or f"{run.project}/{run.model}/scoring-tests/{run.test_name}"


class ScoringRuns:
    def __init__(
        self,
        store: ScoringStore,
        metadata: MetadataStore,
        guard: Guard,
        tests: ScoringTests,
        finished: Finished = lambda run, stage: None,
    ) -> None:
        self._store = store
        self._metadata = metadata
        self._guard = guard
        self._tests = tests
        self._finished = finished

    async def get(self, caller: Caller, run_id: str) -> ScoringRun:
        run = await self._store.get_run(check_id("id", run_id, "scoring run"))
        missing = NotFoundError(f"scoring run {run_id!r} does not exist")
        if run is None:
            raise missing
        try:
            may_read(caller, run.project, "GetScoringRun")
        except AccessDenied as denied:
            await self._guard.record_denial(caller, denied, _run_resource(run))
            raise missing from None
        return run

    async def list_runs(
        self, caller: Caller, test_id: str, model_version: str, state: RunState | None, size: int, token: str
    ) -> tuple[list[ScoringRun], str]:
        """Newest first: the runs of a test, of a version, or of a test on a version; in ``state``
        (None: any)."""
        if not test_id and not model_version:
            raise InvalidArgumentError("test_id", "name test_id, model_version (PROJECT/MODEL:N) or both")
        limit = page_size(size)
        before = decode_token("scoring runs", token, str)
        after_key = None
        if before:
            time, _, run_id = before.partition("|")
            try:
                after_key = (datetime.fromisoformat(time), check_id("page_token", run_id, "scoring run"))
            except ValueError:
                raise InvalidArgumentError("page_token", "is not a token this call returned") from None
        test = await self._tests.get(caller, test_id, "ListScoringRuns", "test_id") if test_id else None
        version = None
        if model_version:
            ref = parse_reference(model_version, "model_version")
            if ref.version is None:
                raise InvalidArgumentError(
                    "model_version", f"{model_version!r} names no version number: use PROJECT/MODEL:N"
                )
            may_read(caller, ref.project, "ListScoringRuns")
            version = await find_version(self._metadata, ref)
        found = await self._store.list_runs(
            test.id if test else None, version.id if version else None, state, after_key, limit + 1
        )
        return page_of(found, limit, lambda r: encode_token("scoring runs", f"{r.created_at.isoformat()}|{r.id}"))

    async def claim(self, caller: Caller, runner: str, max_runs: int, lease_seconds: float) -> list[ClaimedRun]:
        if not runner:
            raise InvalidArgumentError("runner", "is required: who leases the runs")
        check_text("runner", runner, MAX_NAME)
        if not 1 <= max_runs <= MAX_CLAIMED_RUNS:
            raise InvalidArgumentError("max_runs", f"must be 1 to {MAX_CLAIMED_RUNS}, got {max_runs}")
        if not (math.isfinite(lease_seconds) and 0 < lease_seconds <= MAX_LEASE_SECONDS):
            raise InvalidArgumentError("lease_seconds", f"must be above 0 and at most {MAX_LEASE_SECONDS}")
        caller = await self._guard.as_service(caller, Duty.RUN_SCORING, "ClaimScoringRuns", "scoring")
        async with self._store.transaction() as tx:
            now = datetime.now(UTC)
            due = await tx.lock_due_tests(now, MAX_DUE_TESTS)
            ticks = [Tick(test_id, latest_tick(schedule, now), next_tick(schedule, now)) for test_id, schedule in due]
            await tx.queue_ticks(ticks, caller.actor)
            opened = await tx.lock_open_runs(max_runs)
            refs = [
                VersionRef(o.run.project, o.run.model, version=o.run.version, alias=None if o.run.version else o.alias)
                for o in opened
            ]
            versions = await tx.find_versions(refs)
            definitions = await tx.definitions({o.model_id for o in opened})
            starts: list[tuple[OpenRun, ModelVersion, ScoreDefinition]] = []
            unscorable: list[tuple[ScoringRun, RunEnding, ModelVersion | None]] = []
            for o, ref, version in zip(opened, refs, versions, strict=True):
                definition = definitions.get(o.model_id)
                problem = _unscorable(ref, version) or (
                    None if definition else f"model '{ref.model_name}' has no score definition"
                )
                if problem is not None or version is None or definition is None:
                    unscorable.append((o.run, RunEnding(o.run.id, RunState.ERROR, problem or ""), version))
                else:
                    starts.append((o, version, definition))
            started = await tx.start_runs([(o.run.id, version.id) for o, version, _ in starts], runner, lease_seconds)
            claimed = [
                ClaimedRun(run, definition, run.attempt, o.trusted_types)
                for run, (o, _, definition) in zip(started, starts, strict=True)
            ]
            errored = await self._end(tx, caller, unscorable)
        for run, (_, _, version) in zip(errored, unscorable, strict=True):
            self._finished(run, version.stage if version else None)
        return claimed

    async def record(
        self,
        caller: Caller,
        run_id: str,
        runner: str,
        attempt: int,
        metrics: Sequence[MetricPoint],
        rows: int,
        duration_seconds: float,
        error: str,
    ) -> ScoringRun:
        run_id = check_id("run_id", run_id, "scoring run")
        if not error:
            check_metric_points(metrics)
        if rows < 0:
            raise InvalidArgumentError("rows", f"must not be negative, got {rows}")
        if not (math.isfinite(duration_seconds) and duration_seconds >= 0):
            raise InvalidArgumentError("duration_seconds", f"must be a non-negative number, got {duration_seconds}")
        check_text("error", error, MAX_TEXT)
        caller = await self._guard.as_service(caller, Duty.RUN_SCORING, "RecordScoringResult", "scoring")
        async with self._store.transaction() as tx:
            run = await tx.lock_run(run_id)
            if run is None:
                raise NotFoundError(f"scoring run {run_id!r} does not exist")
            if run.state is not RunState.RUNNING or (run.runner, run.attempt) != (runner, attempt):
                held = f"leased to {run.runner!r} (attempt {run.attempt})"
                if run.state is not RunState.RUNNING:
                    held = f"{run.state} already"
                raise FailedPreconditionError(
                    f"scoring run {run.id} is {held}; the result of {runner!r} (attempt {attempt}) is ignored"
                )
            version = await lock_version(self._metadata, tx, VersionRef(run.project, run.model, version=run.version))
            if error:
                ending = RunEnding(run.id, RunState.ERROR, error, (), rows, duration_seconds)
            else:
                source = MetricSource(run.id, run.test_id, run.test_name, run.dataset)
                points = [dataclasses.replace(p, source=source) for p in metrics]
                check_structured_total(version, points)
                await tx.add_metrics(version, points)
                definition = await tx.definition(version.model_id)
                failed = failed_thresholds(definition.thresholds if definition else (), points)
                state = RunState.FAILED if failed else RunState.PASSED
                ending = RunEnding(run.id, state, "; ".join(failed), points, rows, duration_seconds)
            [finished] = await self._end(tx, caller, [(run, ending, version)])
        self._finished(finished, version.stage)
        return finished

    async def _end(
        self,
        tx: ScoringTransaction,
        caller: Caller,
        endings: Sequence[tuple[ScoringRun, RunEnding, ModelVersion | None]],
    ) -> list[ScoringRun]:
        """The runs ended (each with the version it scored, if any), with their audit events
        (scoring_test.passed/failed/error), in two statements however many."""
        finished = await tx.finish_runs([ending for _, ending, _ in endings])
        await tx.append_audits(
            [
                NewAuditEvent(
                    caller,
                    f"scoring_test.{ending.state.value.lower()}",
                    run.project,
                    _run_resource(done),
                    after={
                        "run": run.id,
                        "test_id": run.test_id,
                        "test": run.test_name,
                        "model_version": done.model_version,
                        "stage": version.stage.value if version else None,
                        "dataset": run.dataset,
                        "state": ending.state.value,
                        "message": ending.message,
                        "metrics": {m.name: m.number for m in ending.metrics if m.number is not None},
                        "rows": ending.rows,
                    },
                    reason=ending.message,
                )
                for (run, ending, version), done in zip(endings, finished, strict=True)
            ]
        )
        return finished


def _unscorable(ref: VersionRef, version: ModelVersion | None) -> str | None:
    """Why the version a run targets cannot be scored (None: it can)."""
    if version is None:
        if ref.alias is not None:
            return f"model '{ref.model_name}' has no alias {ref.alias!r}"
        if ref.version is not None:
            return f"model '{ref.model_name}' has no version {ref.version}"
        return f"model '{ref.model_name}' has no READY version to score"
    if version.status is not VersionStatus.READY:
        return f"{version.reference} is {version.status}; only a READY version can be scored"
    return None
