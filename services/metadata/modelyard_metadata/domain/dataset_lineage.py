"""Lineage between model versions and dataset versions: which versions were trained or tested on
a dataset version, and which one produced it."""

from __future__ import annotations

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.dataset_entities import DatasetLink, DatasetUse, audited
from modelyard_metadata.domain.datasets import why_dataset_missing
from modelyard_metadata.domain.entities import Caller, NewAuditEvent, VersionStatus
from modelyard_metadata.domain.guard import Guard, visible_projects
from modelyard_metadata.domain.lookups import why_missing
from modelyard_metadata.domain.ports import DatasetStore, MetadataStore
from modelyard_metadata.domain.validation import parse_dataset_reference, parse_reference
from modelyard_metadata.domain.versions import Versions

__all__ = ["DatasetLineage"]


class DatasetLineage:
    def __init__(self, store: DatasetStore, models: MetadataStore, guard: Guard, versions: Versions) -> None:
        self._store = store
        self._models = models
        self._guard = guard
        self._versions = versions

    async def link(
        self, caller: Caller, model_version: str, dataset_version: str, use: DatasetUse | None
    ) -> DatasetLink:
        """Records ``use``. It changes the lineage of the side it describes: the model version's
        (TRAINED_ON, TESTED_ON) or the dataset version's (PRODUCED_BY), which takes EDITOR on that
        side's project; the other side is only named, which takes VIEWER on its project."""
        model_ref = parse_reference(model_version, "model_version")
        dataset_ref = parse_dataset_reference(dataset_version, "dataset_version")
        if use is None:
            raise InvalidArgumentError("use", "is required: TRAINED_ON, TESTED_ON or PRODUCED_BY")
        changed, named = (model_ref.project, dataset_ref.project)
        if use is DatasetUse.PRODUCED_BY:
            changed, named = named, changed
        resource = audited(str(dataset_ref))
        if use is DatasetUse.PRODUCED_BY:
            caller = await self._guard.allow_job_output(caller, changed, Role.EDITOR, "LinkDataset", resource)
        else:
            caller = await self._guard.allow(caller, changed, Role.EDITOR, "LinkDataset", resource)
        await self._guard.allow(caller, named, Role.VIEWER, "LinkDataset", resource)
        async with self._store.transaction() as tx:
            [model] = await tx.find_versions([model_ref])
            if model is None:
                raise NotFoundError(await why_missing(self._models, model_ref))
            dataset = await tx.lock_dataset_version(dataset_ref)
            if dataset is None:
                raise NotFoundError(await why_dataset_missing(self._store, dataset_ref))
            if dataset.status is not VersionStatus.READY:
                raise FailedPreconditionError(
                    f"{dataset.reference} is {dataset.status}; only READY versions are linked"
                )
            link, created = await tx.insert_link(model, dataset, use, caller.actor)
            if created:
                after = {"model_version": link.model_version, "dataset_version": link.dataset_version, "use": use.value}
                event = NewAuditEvent(caller, "dataset.link", changed, audited(dataset.reference), after=after)
                await tx.append_audit(event)
        return link

    async def links_of(self, caller: Caller, model_version: str) -> list[DatasetLink]:
        """The dataset versions linked to a model version, of the projects the caller may read."""
        version = await self._versions.get(caller, model_version, "ListDatasetLinks")
        visible = visible_projects(caller.identity)
        links = await self._store.links_of(version)
        return [link for link in links if visible is None or link.dataset_version.partition("/")[0] in visible]
