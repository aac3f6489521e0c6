"""The calls of DatasetService (datasets, their versions, search by column, lineage to model
versions), written once for ``Client`` and ``AsyncClient`` (see ``_calls``). Pushing a file as
a dataset version is ``Client.push_dataset``: the bytes go through the registry."""

from __future__ import annotations

from collections.abc import Mapping

from modelyard import _convert_datasets as cd
from modelyard._calls import MAX_PAGE, Calls, Pages, R, Unary, iterating, unary
from modelyard._connection import DATASETS
from modelyard._dataset_types import Dataset, DatasetFormat, DatasetLink, DatasetUse, DatasetVersion
from modelyard.v1 import datasets_pb2

__all__ = ["DatasetCalls"]


def _dataset(response: datasets_pb2.CreateDatasetResponse | datasets_pb2.GetDatasetResponse) -> Dataset:
    return cd.dataset_from_pb(response.dataset)


def _version(response: datasets_pb2.GetDatasetVersionResponse) -> DatasetVersion:
    return cd.version_from_pb(response.version)


class DatasetCalls(Calls[R]):
    @unary
    def create_dataset(self, name: str, *, description: str = "") -> Unary[Dataset]:
        """Creates dataset ``name`` ("project/dataset") in an existing project."""
        request = datasets_pb2.CreateDatasetRequest(name=name, description=description)
        return Unary("CreateDataset", request, _dataset, service=DATASETS)

    @unary
    def get_dataset(self, name: str) -> Unary[Dataset]:
        return Unary("GetDataset", datasets_pb2.GetDatasetRequest(name=name), _dataset, service=DATASETS)

    @iterating
    def list_datasets(self, project: str) -> Pages[Dataset]:
        """The datasets of ``project``, by name."""
        request = datasets_pb2.ListDatasetsRequest(project=project, page_size=MAX_PAGE)
        return Pages("ListDatasets", request, lambda r: map(cd.dataset_from_pb, r.datasets), service=DATASETS)

    @unary
    def create_dataset_version(
        self,
        dataset: str,
        format: DatasetFormat | str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Unary[DatasetVersion]:
        """Registers a new version of ``dataset``, PENDING_UPLOAD until its file is pushed
        (``push_dataset`` does both)."""
        request = datasets_pb2.CreateDatasetVersionRequest(
            dataset=dataset,
            format=cd.format_to_pb(DatasetFormat.parse(format)),
            description=description,
            tags=dict(tags or {}),
        )
        return Unary("CreateDatasetVersion", request, _version, service=DATASETS)

    @unary
    def get_dataset_version(self, reference: str) -> Unary[DatasetVersion]:
        """The version ``reference`` names: "p/d:3", or "p/d" (its latest READY version), with
        the model versions linked to it."""
        request = datasets_pb2.GetDatasetVersionRequest(reference=reference)
        return Unary("GetDatasetVersion", request, _version, service=DATASETS)

    @iterating
    def list_dataset_versions(self, dataset: str) -> Pages[DatasetVersion]:
        """The versions of ``dataset``, newest first."""
        request = datasets_pb2.ListDatasetVersionsRequest(dataset=dataset, page_size=MAX_PAGE)
        return Pages("ListDatasetVersions", request, lambda r: map(cd.version_from_pb, r.versions), service=DATASETS)

    @iterating
    def search_datasets(
        self, column: str, *, type: str = "", project: str = "", limit: int | None = None
    ) -> Pages[DatasetVersion]:
        """READY dataset versions having a column named ``column`` (of ``type``, e.g. "double",
        when given), newest first, in ``project`` or every project you may read."""
        request = datasets_pb2.SearchDatasetsRequest(column=column, type=type, project=project, page_size=MAX_PAGE)
        return Pages(
            "SearchDatasets", request, lambda r: map(cd.version_from_pb, r.versions), limit=limit, service=DATASETS
        )

    @unary
    def link_dataset(self, model_version: str, dataset_version: str, use: DatasetUse | str) -> Unary[DatasetLink]:
        """Records that ``model_version`` was TRAINED_ON or TESTED_ON ``dataset_version``, or that
        the dataset version was PRODUCED_BY it; linking twice is harmless."""
        request = datasets_pb2.LinkDatasetRequest(
            model_version=model_version,
            dataset_version=dataset_version,
            use=cd.use_to_pb(DatasetUse.parse(use)),
        )
        return Unary("LinkDataset", request, lambda r: cd.link_from_pb(r.link), service=DATASETS)

    @unary
    def dataset_links(self, model_version: str) -> Unary[list[DatasetLink]]:
        """The dataset versions linked to ``model_version``."""
        request = datasets_pb2.ListDatasetLinksRequest(model_version=model_version)
        return Unary("ListDatasetLinks", request, lambda r: [cd.link_from_pb(x) for x in r.links], service=DATASETS)
