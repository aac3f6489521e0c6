"""The datasets' pages: a project's datasets, a dataset's versions, a version (its schema, file
and lineage to model versions, with a download), and the search of datasets by column, whose
whole state is in its URL (``/datasets?column=tenure&type=int64``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import DatasetUse, DatasetVersion
from modelyard_common.values import DATASET_REFERENCE_PREFIX
from modelyard_console.pages._common import console_of, page
from modelyard_console.pages.artifacts import streamed
from modelyard_console.pages.catalog import dataset_path, dataset_version_path, version_path

__all__ = ["routes"]

_DATASET = "/projects/{project}/datasets/{dataset}"
_VERSION = _DATASET + "/versions/{version:int}"
FOUND = 100  # search results shown (newest first)
USES = (DatasetUse.TRAINED_ON, DatasetUse.TESTED_ON, DatasetUse.PRODUCED_BY)


def routes() -> list[Route]:
    return [
        Route("/datasets", page(_search)),
        Route("/projects/{project}/datasets", page(_datasets)),
        Route(_DATASET, page(_dataset)),
        Route(_VERSION, page(_version)),
        Route(_VERSION + "/files/{path:path}", page(_download)),
    ]


async def _search(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    """Every project's datasets having a column (of a type): the search of the main menu."""
    context = await _searched(request, client, request.query_params.get("project", "").strip())
    return console_of(request).render(request, "datasets_search.html", **context)


async def _datasets(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project = request.path_params["project"]
    datasets = [dataset async for dataset in client.list_datasets(project)]
    context = await _searched(request, client, project)
    return console_of(request).render(request, "datasets.html", project=project, datasets=datasets, **context)


async def _searched(request: Request, client: modelyard.aio.AsyncClient, project: str) -> dict[str, Any]:
    """The search form's fields as the URL gives them, and the versions found (None: no search)."""
    column, kind = (request.query_params.get(key, "").strip() for key in ("column", "type"))
    found: list[DatasetVersion] | None = None
    if column:
        found = [v async for v in client.search_datasets(column, type=kind, project=project, limit=FOUND)]
    return {
        "search": {"column": column, "type": kind, "project": project},
        "found": found,
        "most": FOUND,
        "dataset_version_path": dataset_version_path,
        "dataset_path": dataset_path,
    }


async def _dataset(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    name = f"{request.path_params['project']}/{request.path_params['dataset']}"
    dataset = await client.get_dataset(name)
    versions = [version async for version in client.list_dataset_versions(name)]
    return console_of(request).render(
        request, "dataset.html", dataset=dataset, versions=versions, dataset_version_path=dataset_version_path
    )


async def _version(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    version = await client.get_dataset_version(_reference(request))
    lineage = {use: [link for link in version.links if link.use is use] for use in USES}
    return console_of(request).render(
        request,
        "dataset_version.html",
        version=version,
        lineage=lineage,
        version_path=version_path,
        dataset_path=dataset_path,
        here=dataset_version_path(version.reference),
    )


async def _download(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    version = await client.get_dataset_version(_reference(request))
    return await streamed(request, client, DATASET_REFERENCE_PREFIX + version.reference, version.artifact)


def _reference(request: Request) -> str:
    params = request.path_params
    return f"{params['project']}/{params['dataset']}:{params['version']}"
