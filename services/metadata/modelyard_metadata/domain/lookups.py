"""Finding the model or version a change names, or saying why it is not there."""

from __future__ import annotations

from modelyard_common.errors import NotFoundError
from modelyard_metadata.domain.entities import Model, ModelVersion
from modelyard_metadata.domain.ports import MetadataStore, MetadataTransaction
from modelyard_metadata.domain.validation import VersionRef

__all__ = ["find_version", "lock_model", "lock_version", "why_missing"]


async def lock_model(tx: MetadataTransaction, project: str, name: str) -> Model:
    model = await tx.lock_model(project, name)
    if model is None:
        raise NotFoundError(f"model '{project}/{name}' does not exist")
    return model


async def lock_version(store: MetadataStore, tx: MetadataTransaction, ref: VersionRef) -> ModelVersion:
    version = await tx.lock_version(ref)
    if version is None:
        raise NotFoundError(await why_missing(store, ref))
    return version


async def find_version(store: MetadataStore, ref: VersionRef) -> ModelVersion:
    version = await store.get_version(ref)
    if version is None:
        raise NotFoundError(await why_missing(store, ref))
    return version


async def why_missing(store: MetadataStore, ref: VersionRef) -> str:
    if await store.get_model(ref.project, ref.model) is None:
        return f"model {ref.model_name!r} does not exist"
    if ref.alias is not None:
        return f"model {ref.model_name!r} has no alias {ref.alias!r}"
    if ref.version is not None:
        return f"model {ref.model_name!r} has no version {ref.version}"
    return f"model {ref.model_name!r} has no READY version yet"
