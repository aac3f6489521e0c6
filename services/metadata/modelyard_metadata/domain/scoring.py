"""Score definitions and scoring tests: what a model is scored on and how (definitions), and which
version is scored on which dataset, when, and what it gates (tests).

Viewers read; editors set definitions and create, change, delete and run tests; only a project
ADMIN sets a test's ``required_for`` (the lifecycle gate), or deactivates or deletes a gated test.
A test is found by id; a caller who may not read its project is told it does not exist. Each
change writes its audit event in the same transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_common.names import check_trusted_types
from modelyard_metadata.domain.access import AccessDenied, Role
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.dataset_entities import DatasetVersion
from modelyard_metadata.domain.datasets import Datasets
from modelyard_metadata.domain.entities import Caller, Model, NewAuditEvent, Stage, VersionStatus
from modelyard_metadata.domain.guard import Guard, may_read
from modelyard_metadata.domain.lookups import find_version, lock_model
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.scoring_checks import (
    check_definition,
    check_required_for,
    check_schedule,
    check_target,
    next_tick,
)
from modelyard_metadata.domain.scoring_entities import (
    ScoreDefinition,
    ScoringRun,
    ScoringTest,
    Target,
    Trigger,
)
from modelyard_metadata.domain.scoring_ports import ScoringStore, ScoringTransaction
from modelyard_metadata.domain.validation import (
    VersionRef,
    check_name,
    check_text,
    parse_model_name,
)

__all__ = ["ScoringTests", "check_id", "test_resource"]


def check_id(field: str, value: str, noun: str = "scoring test") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgumentError(field, f"{value!r} is not a {noun} id") from None


def test_resource(test: ScoringTest) -> str:
    return f"{test.model_name}/scoring-tests/{test.name}"


def _audited(test: ScoringTest) -> dict[str, Any]:
    """What the audit log keeps of a test (its last run changes on its own)."""
    return {k: v for k, v in snapshot(test).items() if k not in ("last_run", "next_run_at")}


class ScoringTests:
    def __init__(self, store: ScoringStore, metadata: MetadataStore, guard: Guard, datasets: Datasets) -> None:
        self._store = store
        self._metadata = metadata
        self._guard = guard
        self._datasets = datasets

    async def set_definition(self, caller: Caller, definition: ScoreDefinition, reason: str) -> ScoreDefinition:
        project, name = parse_model_name("definition.model", definition.model)
        check_definition(definition)
        check_text("reason", reason)
        caller = await self._guard.allow(caller, project, Role.EDITOR, "SetScoreDefinition", definition.model)
        async with self._store.transaction() as tx:
            model = await lock_model(tx, project, name)
            before = await tx.definition(model.id)
            wanted = dataclasses.replace(definition, model=model.full_name, updated_by=caller.actor)
            after = await tx.set_definition(model.id, wanted)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "scoring_definition.set",
                    project,
                    model.full_name,
                    before=snapshot(before) if before else None,
                    after=snapshot(after),
                    reason=reason,
                )
            )
        return after

    async def get_definition(self, caller: Caller, model_name: str) -> ScoreDefinition:
        project, name = parse_model_name("model", model_name)
        may_read(caller, project, "GetScoreDefinition")
        model = await self._model(project, name)
        definition = await self._store.get_definition(model.id)
        if definition is None:
            raise NotFoundError(f"model {model.full_name!r} has no score definition")
        return definition

    async def create(
        self,
        caller: Caller,
        model_name: str,
        name: str,
        target: Target,
        dataset: str,
        schedule: str,
        required_for: Sequence[Stage],
        description: str,
        active: bool = True,
        trusted_types: Sequence[str] = (),
    ) -> ScoringTest:
        project, model_short = parse_model_name("test.model", model_name)
        check_name("test.name", name)
        check_target(target)
        check_schedule(schedule)
        gates = check_required_for(required_for)
        check_text("test.description", description)
        trusted = check_trusted_types(trusted_types, "test.trusted_types")
        caller = await self._guard.allow(caller, project, Role.EDITOR, "CreateScoringTest", model_name)
        if gates:
            caller = await self._gatekeeper(caller, project, "CreateScoringTest", model_name)
        found = await self._dataset(caller, dataset)
        model = await self._model(project, model_short)
        definition = await self._store.get_definition(model.id)
        if definition is None:
            raise FailedPreconditionError(
                f"model {model.full_name!r} has no score definition; set one (SetScoreDefinition) before its tests"
            )
        _check_columns(found, definition)
        if target.version is not None:
            await find_version(self._metadata, VersionRef(project, model_short, version=target.version))
        now = datetime.now(UTC)
        new = ScoringTest(
            id=str(uuid.uuid4()),
            model_id=model.id,
            project=project,
            model=model_short,
            name=name,
            target=target,
            dataset=found.reference,
            schedule=schedule,
            active=active,
            required_for=gates,
            description=description,
            created_by=caller.actor,
            created_at=now,
            next_run_at=next_tick(schedule, now) if schedule else None,
            trusted_types=trusted,
        )
        async with self._store.transaction() as tx:
            await lock_model(tx, project, model_short)
            test = await tx.insert_test(new)
            await tx.append_audit(
                NewAuditEvent(caller, "scoring_test.created", project, test_resource(test), after=_audited(test))
            )
        return test

    async def get(self, caller: Caller, test_id: str, action: str = "GetScoringTest", field: str = "id") -> ScoringTest:
        test = await self._store.get_test(check_id(field, test_id))
        missing = NotFoundError(f"scoring test {test_id!r} does not exist")
        if test is None:
            raise missing
        try:
            may_read(caller, test.project, action)
        except AccessDenied as denied:
            await self._guard.record_denial(caller, denied, f"{test.project}/scoring-tests/{test.id}")
            raise missing from None
        return test

    async def list_tests(self, caller: Caller, parent: str) -> list[ScoringTest]:
        if "/" in parent:
            project, name = parse_model_name("parent", parent)
            may_read(caller, project, "ListScoringTests")
            await self._model(project, name)
            return await self._store.list_tests(project, name)
        check_name("parent", parent)
        may_read(caller, parent, "ListScoringTests")
        return await self._store.list_tests(parent, None)

    async def update(
        self,
        caller: Caller,
        test_id: str,
        reason: str,
        schedule: str | None = None,
        active: bool | None = None,
        description: str | None = None,
        required_for: Sequence[Stage] | None = None,
        dataset: str | None = None,
        trusted_types: Sequence[str] | None = None,
    ) -> ScoringTest:
        check_text("reason", reason)
        changes: dict[str, Any] = {}
        if trusted_types is not None:
            changes["trusted_types"] = list(check_trusted_types(trusted_types))
        now = datetime.now(UTC)
        if schedule is not None:
            changes["schedule"] = check_schedule(schedule)
            changes["next_run_at"] = next_tick(schedule, now) if schedule else None
        if description is not None:
            changes["description"] = check_text("test.description", description)
        if required_for is not None:
            changes["required_for"] = [stage.value for stage in check_required_for(required_for)]
        current = await self.get(caller, test_id, "UpdateScoringTest")
        resource = test_resource(current)
        caller = await self._guard.allow(caller, current.project, Role.EDITOR, "UpdateScoringTest", resource)
        ungating = current.required_for and active is False
        if required_for is not None or ungating:
            caller = await self._gatekeeper(caller, current.project, "UpdateScoringTest", resource)
        if active is not None:
            changes["active"] = active
            if active and not current.active and current.schedule and "next_run_at" not in changes:
                # Ticks missed while inactive are not caught up.
                changes["next_run_at"] = next_tick(current.schedule, now)
        if dataset is not None:
            definition = await self._store.get_definition(current.model_id)
            found = await self._dataset(caller, dataset)
            if definition is not None:
                _check_columns(found, definition)
            changes["dataset"] = found.reference
        async with self._store.transaction() as tx:
            before = await self._locked(tx, current.id)
            after = await tx.update_test(before.id, changes) if changes else before
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "scoring_test.updated",
                    after.project,
                    test_resource(after),
                    before=_audited(before),
                    after=_audited(after),
                    reason=reason,
                )
            )
        return after

    async def delete(self, caller: Caller, test_id: str, reason: str) -> None:
        check_text("reason", reason)
        current = await self.get(caller, test_id, "DeleteScoringTest")
        resource = test_resource(current)
        caller = await self._guard.allow(caller, current.project, Role.EDITOR, "DeleteScoringTest", resource)
        if current.required_for:
            caller = await self._gatekeeper(caller, current.project, "DeleteScoringTest", resource)
        async with self._store.transaction() as tx:
            before = await self._locked(tx, current.id)
            await tx.delete_test(before.id)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "scoring_test.deleted",
                    before.project,
                    test_resource(before),
                    before=_audited(before),
                    reason=reason,
                )
            )

    async def run(self, caller: Caller, test_id: str, number: int) -> ScoringRun:
        """Queues a run now: of version ``number`` of the test's model, or (0) of its target."""
        if number < 0:
            raise InvalidArgumentError("version", f"must be a version number, or 0 for the test's target; got {number}")
        current = await self.get(caller, test_id, "RunScoringTest", "test_id")
        caller = await self._guard.allow(caller, current.project, Role.EDITOR, "RunScoringTest", test_resource(current))
        version = None
        if number:
            version = await find_version(self._metadata, VersionRef(current.project, current.model, version=number))
        async with self._store.transaction() as tx:
            test = await self._locked(tx, current.id)
            run = await tx.queue_run(test, version, Trigger.MANUAL, caller.actor)
            assert run is not None  # only a scheduled tick can be queued already
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "scoring_test.requested",
                    test.project,
                    test_resource(test),
                    after={"run": run.id, "model_version": run.model_version, "dataset": run.dataset},
                )
            )
        return run

    async def _model(self, project: str, name: str) -> Model:
        model = await self._metadata.get_model(project, name)
        if model is None:
            raise NotFoundError(f"model '{project}/{name}' does not exist")
        return model

    async def _gatekeeper(self, caller: Caller, project: str, action: str, resource: str) -> Caller:
        return await self._guard.allow(caller, project, Role.ADMIN, f"{action} (required_for)", resource)

    async def _dataset(self, caller: Caller, reference: str) -> DatasetVersion:
        """A READY dataset version the caller may read; any other answers alike."""
        if not reference:
            raise InvalidArgumentError("test.dataset", "is required: a dataset version, PROJECT/DATASET:N")
        try:
            found = await self._datasets.get_version(caller, reference)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError("test.dataset", str(exc).partition(": ")[2]) from None
        except (NotFoundError, AccessDenied):
            raise InvalidArgumentError("test.dataset", f"{reference!r} is not a dataset version you may read") from None
        if found.status is not VersionStatus.READY:
            raise InvalidArgumentError(
                "test.dataset", f"{found.reference} is {found.status}; a test scores a READY one"
            )
        return found

    async def _locked(self, tx: ScoringTransaction, test_id: str) -> ScoringTest:
        found = await tx.lock_test(test_id)
        if found is None:
            raise NotFoundError(f"scoring test {test_id!r} does not exist")
        return found


def _check_columns(dataset: DatasetVersion, definition: ScoreDefinition) -> None:
    """The dataset must hold the label column and every input column the definition names."""
    present = {column.name for column in dataset.columns}
    wanted = [definition.label_column, *(c for i in definition.inputs for c in i.columns)]
    missing = [column for column in dict.fromkeys(wanted) if column not in present]
    if missing:
        raise InvalidArgumentError(
            "test.dataset",
            f"{dataset.reference} has no column {', '.join(map(repr, missing))}, which the score definition of "
            f"{definition.model} reads",
        )
