"""A version's place in its model's life: stage transitions and the aliases pointing at it."""

from __future__ import annotations

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.entities import Caller, EncodedVersion, ModelVersion, NewAuditEvent, Stage, VersionStatus
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.lookups import find_version, lock_model, lock_version
from modelyard_metadata.domain.ports import MetadataStore, MetadataTransaction
from modelyard_metadata.domain.stages import check_transition
from modelyard_metadata.domain.validation import VersionRef, check_alias, check_text, parse_model_name, parse_reference

__all__ = ["Lifecycle"]


class Lifecycle:
    """``protected_aliases`` (``champion``...) move only by a project ADMIN; others by an EDITOR."""

    def __init__(self, store: MetadataStore, guard: Guard, protected_aliases: frozenset[str] = frozenset()) -> None:
        self._store = store
        self._guard = guard
        self._protected_aliases = protected_aliases

    async def transition_stage(self, caller: Caller, reference: str, stage: Stage, reason: str) -> EncodedVersion:
        """TransitionStage: the version in its new stage, as the wire carries it."""
        ref = parse_reference(reference)
        check_text("reason", reason)
        caller = await self._guard.allow(caller, ref.project, Role.EDITOR, "TransitionStage", reference)
        async with self._store.transaction() as tx:
            version = await lock_version(self._store, tx, ref)
            check_transition(version, stage)
            if Stage.PRODUCTION in (stage, version.stage):
                action = f"TransitionStage {version.stage} -> {stage}"
                caller = await self._guard.allow(caller, ref.project, Role.ADMIN, action, version.reference)
            await check_gates(tx, version, stage)
            updated = await tx.update_version(version, {"stage": stage})
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "version.stage",
                    version.project,
                    version.reference,
                    before={"stage": version.stage.value},
                    after={"stage": stage.value},
                    reason=reason,
                )
            )
            return tx.encoded(updated)

    async def set_alias(
        self, caller: Caller, model_name: str, alias: str, number: int, reason: str
    ) -> tuple[ModelVersion, int]:
        """The version the alias now points at, and the number it pointed at before (0: none)."""
        project, name = parse_model_name("model", model_name)
        check_alias("alias", alias)
        if number < 1:
            raise InvalidArgumentError("version", f"must be a positive version number, got {number}")
        check_text("reason", reason)
        caller = await self._allow_alias(caller, project, alias, "SetAlias", f"{model_name}@{alias}")
        ref = VersionRef(project, name, version=number)
        async with self._store.transaction() as tx:
            model = await lock_model(tx, project, name)
            version = await lock_version(self._store, tx, ref)
            if version.status is VersionStatus.FAILED:
                raise FailedPreconditionError(f"{version.reference} failed to upload; an alias cannot point at it")
            previous = await tx.set_alias(model, alias, version)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "alias.set",
                    project,
                    f"{model_name}@{alias}",
                    before={"version": previous} if previous else None,
                    after={"version": number},
                    reason=reason,
                )
            )
        return await find_version(self._store, ref), previous or 0

    async def delete_alias(self, caller: Caller, model_name: str, alias: str, reason: str) -> int:
        """The number the alias pointed at."""
        project, name = parse_model_name("model", model_name)
        check_alias("alias", alias)
        check_text("reason", reason)
        caller = await self._allow_alias(caller, project, alias, "DeleteAlias", f"{model_name}@{alias}")
        async with self._store.transaction() as tx:
            model = await lock_model(tx, project, name)
            previous = await tx.delete_alias(model, alias)
            if previous is None:
                raise NotFoundError(f"model {model_name!r} has no alias {alias!r}")
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "alias.delete",
                    project,
                    f"{model_name}@{alias}",
                    before={"version": previous},
                    reason=reason,
                )
            )
        return previous

    async def _allow_alias(self, caller: Caller, project: str, alias: str, action: str, resource: str) -> Caller:
        if alias in self._protected_aliases:
            return await self._guard.allow(
                caller, project, Role.ADMIN, f"{action} (protected alias {alias!r})", resource
            )
        return await self._guard.allow(caller, project, Role.EDITOR, action, resource)


async def check_gates(tx: MetadataTransaction, version: ModelVersion, stage: Stage) -> None:
    """FAILED_PRECONDITION unless every active scoring test gating ``stage`` has passed on
    ``version``, naming the tests that have not and how their last run on it ended. A step back
    from PRODUCTION to VALIDATION is not gated: it takes a version out of service, whatever its
    tests say (a gate added after it was promoted must not keep it serving)."""
    if version.stage is Stage.PRODUCTION and stage is Stage.VALIDATION:
        return
    waiting = await tx.unpassed_gates(version, stage)
    if not waiting:
        return
    names = ", ".join(repr(name) for name, _ in waiting)
    lasts = ", ".join(last or "none yet" for _, last in waiting)
    said = f"test {names} has" if len(waiting) == 1 else f"tests {names} have"
    runs = "run" if len(waiting) == 1 else "runs"
    raise FailedPreconditionError(
        f"stage: {version.reference} may enter {stage} once scoring {said} passed on it (last {runs}: {lasts})"
    )
