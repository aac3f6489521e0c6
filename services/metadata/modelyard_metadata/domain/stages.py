"""The stage lifecycle: which transitions are allowed, and what each one requires."""

from __future__ import annotations

from modelyard_common.errors import FailedPreconditionError
from modelyard_metadata.domain.entities import ModelVersion, Stage, VersionStatus

__all__ = ["ALLOWED_TRANSITIONS", "check_transition"]

ALLOWED_TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.DEVELOPMENT: frozenset({Stage.VALIDATION, Stage.ARCHIVED}),
    Stage.VALIDATION: frozenset({Stage.PRODUCTION, Stage.DEVELOPMENT, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED, Stage.VALIDATION}),
    Stage.ARCHIVED: frozenset({Stage.DEVELOPMENT}),
}
# Validating or serving a model needs its bytes.
_NEEDS_READY = frozenset({Stage.VALIDATION, Stage.PRODUCTION})


def check_transition(version: ModelVersion, target: Stage) -> None:
    """Raises FailedPreconditionError unless ``version`` may move to ``target``."""
    if target == version.stage:
        raise FailedPreconditionError(f"{version.reference} is already in stage {target}")
    allowed = ALLOWED_TRANSITIONS[version.stage]
    if target not in allowed:
        options = ", ".join(sorted(allowed))
        raise FailedPreconditionError(
            f"stage: {version.reference} cannot move from {version.stage} to {target}; "
            f"from {version.stage} it can move to {options}"
        )
    if target in _NEEDS_READY and version.status is not VersionStatus.READY:
        raise FailedPreconditionError(
            f"stage: {version.reference} cannot enter {target} while its artifact is {version.status}; upload it first"
        )
