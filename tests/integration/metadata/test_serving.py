"""How versions of CUSTOM and ENSEMBLE models say how to serve them (Serving), and what the
service checks: the field fits the model's kind, ensemble members exist and are READY."""

from __future__ import annotations

import grpc
import pytest

import modelyard
from modelyard import EnsembleMethod, ModelKind, Serving, VersionStatus, errors
from modelyard.internal import InternalCalls
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2

FILE = modelyard.ArtifactFile("model.skops", 3, "a" * 64, "blobs/aa", "application/octet-stream")


def ready(client: modelyard.Client, model: str) -> modelyard.ModelVersion:
    version = client.create_version(model)
    return InternalCalls(client).commit_artifact(version.reference, modelyard.Artifact(files=(FILE,), total_size=3))


def test_a_custom_models_versions_carry_their_entry_point(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/rules", kind=ModelKind.CUSTOM)
    with pytest.raises(errors.InvalidArgumentError, match=r"serving\.entry_point: '' is not 'module:attribute'"):
        client.create_version(f"{project}/rules")
    with pytest.raises(errors.InvalidArgumentError, match=r"serving\.entry_point: 'predictor' is not"):
        client.create_version(f"{project}/rules", serving=Serving(entry_point="predictor"))
    created = client.create_version(f"{project}/rules", serving=Serving(entry_point="pkg.predictor:Model.load"))
    assert created.status is VersionStatus.PENDING_UPLOAD  # its code still has to be uploaded
    assert client.get_version(created.reference).serving == Serving(entry_point="pkg.predictor:Model.load")


def test_an_ensemble_is_ready_at_once_with_its_members_pinned(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/a")
    client.create_model(f"{project}/b")
    client.create_model(f"{project}/vote", kind=ModelKind.ENSEMBLE)
    a, b = ready(client, f"{project}/a"), ready(client, f"{project}/b")
    client.set_alias(f"{project}/b", "champion", b.version)
    serving = Serving(ensemble_method=EnsembleMethod.VOTE, members=(f"{project}/a", f"{project}/b@champion"))
    ensemble = client.create_version(f"{project}/vote", serving=serving)
    assert (ensemble.status, ensemble.artifact) == (VersionStatus.READY, None)
    assert ensemble.serving == Serving(ensemble_method=EnsembleMethod.VOTE, members=(a.reference, b.reference))
    assert ensemble.produced_by == (a.reference, b.reference)  # the members are its lineage
    assert client.get_version(f"{project}/vote").serving == ensemble.serving  # read back (and cached)


def test_ensemble_members_must_exist_and_be_ready(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/a")
    client.create_model(f"{project}/mean", kind=ModelKind.ENSEMBLE)
    pending = client.create_version(f"{project}/a")
    average = EnsembleMethod.AVERAGE
    with pytest.raises(errors.FailedPreconditionError, match=r"serving\.members\[0\]: .*:1 is PENDING_UPLOAD"):
        client.create_version(f"{project}/mean", serving=Serving(ensemble_method=average, members=(pending.reference,)))
    with pytest.raises(errors.NotFoundError, match=r"serving\.members\[0\]: version .*/a:9 does not exist"):
        client.create_version(f"{project}/mean", serving=Serving(ensemble_method=average, members=(f"{project}/a:9",)))
    with pytest.raises(errors.InvalidArgumentError, match=r"serving\.members: has 0 entries"):
        client.create_version(f"{project}/mean", serving=Serving(ensemble_method=average))
    with pytest.raises(errors.InvalidArgumentError, match=r"serving\.ensemble_method: is required"):
        client.create_version(f"{project}/mean", serving=Serving(members=(pending.reference,)))
    assert client.get_model(f"{project}/mean").latest_version == 0  # nothing half-created


def test_a_standard_model_takes_no_serving_and_serving_is_fixed(
    client: modelyard.Client, project: str, stub: metadata_pb2_grpc.MetadataServiceStub
) -> None:
    client.create_model(f"{project}/plain")
    with pytest.raises(errors.InvalidArgumentError, match="is STANDARD; only CUSTOM and ENSEMBLE take it"):
        client.create_version(f"{project}/plain", serving=Serving(entry_point="m:f"))
    version = client.create_version(f"{project}/plain")
    assert version.serving is None
    request = metadata_pb2.UpdateModelVersionRequest(
        reference=version.reference, version=types_pb2.ModelVersion(serving=types_pb2.Serving(entry_point="m:f"))
    )
    request.update_mask.paths.append("serving")
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateModelVersion(request)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "serving" in (raised.value.details() or "")
