"""The job use cases: check what a job asks for (versions READY, columns present and numeric),
check the caller's access (EDITOR on the job's project to create or cancel one, VIEWER to read
it; a job of a project the caller cannot read is NOT_FOUND), record it; the leader's
``JobRunner`` runs it."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_common.values import ProjectRole
from modelyard_deploy.domain.job_entities import DatasetInfo, Job, JobInput, JobState, ModelInfo
from modelyard_deploy.domain.job_ports import JobCatalog, JobStore
from modelyard_deploy.domain.limits import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_PAGE,
    DEFAULT_WORKERS,
    MAX_CHUNK_ROWS,
    MAX_INPUT_COLUMNS,
    MAX_JOB_INPUTS,
    MAX_PAGE,
    MAX_REASON,
    MAX_REFERENCE,
    MAX_WORKERS,
)
from modelyard_deploy.domain.ports import Access
from modelyard_deploy.domain.validation import check_project, check_text, check_trusted_types, reference_project

__all__ = ["DEFAULT_INPUT", "JobPage", "Jobs"]

DEFAULT_INPUT = "input"
"""The input name of a model that declares none (a CUSTOM model without a signature)."""
_NUMERIC = ("int", "uint", "float", "double", "bool", "halffloat")
# A dataset name, as the metadata service allows it (ARCHITECTURE.md, "Names and references").
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_token: str


def _field_project(field: str, reference: str, project: str, versioned: bool) -> None:
    """``reference`` names a dataset (``versioned``: or a version of it, "p/d:N") of ``project``."""
    check_text(field, reference, MAX_REFERENCE)
    head, slash, name = reference.partition("/")
    if versioned:
        name = name.partition(":")[0]
    if not slash or not _NAME.fullmatch(name):
        shape = "'project/dataset:N'" if versioned else "'project/name' (lowercase letters, digits, '.', '_', '-')"
        raise InvalidArgumentError(field, f"{reference!r} is not {shape}")
    if head != project:
        raise InvalidArgumentError(field, f"{reference!r} is not in project {project!r}, the model's")


def _inputs(requested: Sequence[JobInput], model: ModelInfo, dataset: DatasetInfo, key: str) -> tuple[JobInput, ...]:
    """The inputs as asked (checked against the model and the dataset), or the default: the
    model's one input takes every column but the key."""
    types = dict(dataset.columns)
    declared = {t.name for t in model.inputs}
    if not requested:
        if len(model.inputs) > 1:
            raise InvalidArgumentError(
                "inputs", f"the model takes {len(model.inputs)} inputs ({', '.join(sorted(declared))}): map each one"
            )
        name = model.inputs[0].name if model.inputs else DEFAULT_INPUT
        requested = [JobInput(name, tuple(c for c, _ in dataset.columns if c != key))]
    if len(requested) > MAX_JOB_INPUTS:
        raise InvalidArgumentError("inputs", f"{len(requested)} inputs; at most {MAX_JOB_INPUTS}")
    seen: set[str] = set()
    for i, spec in enumerate(requested):
        if not spec.name or spec.name in seen:
            raise InvalidArgumentError(f"inputs[{i}].name", f"{spec.name!r} is empty or repeated")
        if declared and spec.name not in declared:
            raise InvalidArgumentError(
                f"inputs[{i}].name", f"{spec.name!r} is not an input of the model ({', '.join(sorted(declared))})"
            )
        seen.add(spec.name)
        if not 1 <= len(spec.columns) <= MAX_INPUT_COLUMNS:
            raise InvalidArgumentError(f"inputs[{i}].columns", f"1 to {MAX_INPUT_COLUMNS} columns expected")
        for column in spec.columns:
            kind = types.get(column)
            if kind is None:
                raise InvalidArgumentError(
                    f"inputs[{i}].columns", f"dataset {dataset.reference} has no column {column!r}"
                )
            if not kind.startswith(_NUMERIC):
                raise InvalidArgumentError(
                    f"inputs[{i}].columns", f"column {column!r} is {kind}; a model input takes numbers only"
                )
    missing = declared - seen
    if missing:
        raise InvalidArgumentError("inputs", f"the model's input {sorted(missing)[0]!r} is not mapped")
    return tuple(requested)


class Jobs:
    def __init__(self, store: JobStore, catalog: JobCatalog, access: Access, poll_seconds: float) -> None:
        self._store, self._catalog, self._access, self._poll = store, catalog, access, poll_seconds

    async def create(
        self,
        model_reference: str,
        input_dataset: str,
        key_column: str,
        inputs: Sequence[JobInput],
        output_dataset: str,
        chunk_rows: int,
        workers: int,
        trusted_types: Sequence[str] = (),
    ) -> Job:
        project = reference_project(model_reference)
        if not input_dataset:
            raise InvalidArgumentError("input_dataset", "is required: 'project/dataset:N'")
        _field_project("input_dataset", input_dataset, project, versioned=True)
        if not output_dataset:
            raise InvalidArgumentError("output_dataset", "is required: 'project/name'")
        _field_project("output_dataset", output_dataset, project, versioned=False)
        if not key_column:
            raise InvalidArgumentError("key_column", "is required")
        chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
        if not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
            raise InvalidArgumentError("chunk_rows", f"{chunk_rows} is not between 1 and {MAX_CHUNK_ROWS}")
        workers = workers or DEFAULT_WORKERS
        if not 1 <= workers <= MAX_WORKERS:
            raise InvalidArgumentError("workers", f"{workers} is not between 1 and {MAX_WORKERS}")
        trusted = check_trusted_types(trusted_types)
        actor = await self._access.require(project, ProjectRole.EDITOR, "JobService/CreateJob", model_reference)
        model = await self._catalog.model_version(model_reference)
        if model.status != "READY":
            raise FailedPreconditionError(
                f"model_reference: version {model.reference} is {model.status}; only READY versions score"
            )
        dataset = await self._catalog.dataset_version(input_dataset)
        if dataset.status != "READY":
            raise FailedPreconditionError(
                f"input_dataset: {dataset.reference} is {dataset.status}; only READY versions are scored"
            )
        if dataset.row_count == 0:
            raise FailedPreconditionError(f"input_dataset: {dataset.reference} has no rows to score")
        if key_column not in dict(dataset.columns):
            raise InvalidArgumentError("key_column", f"dataset {dataset.reference} has no column {key_column!r}")
        checked = _inputs(inputs, model, dataset, key_column)
        declared = {t.name: t.datatype for t in model.inputs}
        job = Job(
            id=uuid.uuid4().hex,
            project=project,
            model_reference=model_reference,
            version_reference=model.reference,
            input_dataset=dataset.reference,
            key_column=key_column,
            inputs=checked,
            input_dtypes=tuple(declared.get(i.name, "FP64") for i in checked),
            output_dataset=output_dataset,
            chunk_rows=chunk_rows,
            workers=workers,
            trusted_types=trusted,
            state=JobState.QUEUED,
            chunks_total=math.ceil(dataset.row_count / chunk_rows),
            rows_total=dataset.row_count,
            created_by=actor,
        )
        return await self._store.create(job)

    async def _allowed(self, job_id: str, role: ProjectRole, action: str) -> tuple[Job, str]:
        """The job and the caller, once it may do ``action`` (one Authorize call); NOT_FOUND
        alike when it may not read the job's project."""
        if not job_id or len(job_id) > 64:
            raise InvalidArgumentError("id", "a job id is 1 to 64 characters")
        job = await self._store.get(job_id)
        unseen = NotFoundError(f"id: job {job_id!r} does not exist")
        actor = await self._access.require(job.project, role, f"JobService/{action}", job_id, unseen=unseen)
        return job, actor

    async def _readable(self, job_id: str, action: str) -> Job:
        job, _ = await self._allowed(job_id, ProjectRole.VIEWER, action)
        return job

    async def get(self, job_id: str) -> Job:
        return await self._readable(job_id, "GetJob")

    async def page(self, project: str, page_size: int, page_token: str) -> JobPage:
        if not project:
            raise InvalidArgumentError("project", "is required")
        check_project(project)
        if not 0 <= page_size <= MAX_PAGE:
            raise InvalidArgumentError("page_size", f"must be between 0 and {MAX_PAGE}, got {page_size}")
        await self._access.require(project, ProjectRole.VIEWER, "JobService/ListJobs", project)
        try:
            before = int(page_token) if page_token else 2**63 - 1
        except ValueError:
            raise InvalidArgumentError("page_token", f"{page_token[:40]!r} is not a token of this list") from None
        limit = page_size or DEFAULT_PAGE
        found = await self._store.page(project, before, limit + 1)
        next_token = str(found[limit - 1][1]) if len(found) > limit else ""
        return JobPage([job for job, _ in found[:limit]], next_token)

    async def cancel(self, job_id: str, reason: str) -> Job:
        check_text("reason", reason, MAX_REASON)
        _, actor = await self._allowed(job_id, ProjectRole.EDITOR, "CancelJob")
        return await self._store.cancel(job_id, actor, reason)

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The job now, then after each change; ends once it is finished."""
        job = await self._readable(job_id, "WatchJob")
        yield job
        while not job.state.finished:
            await asyncio.sleep(self._poll)
            latest = await self._store.get(job_id)
            if latest != job:
                job = latest
                yield job
