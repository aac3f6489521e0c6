"""Versions, references, artifacts commits, stages and aliases against the real service."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import modelyard
from modelyard import errors
from modelyard.internal import InternalCalls

FILE = modelyard.ArtifactFile(path="model.skops", size=3, sha256="ab" * 32, storage_key="blobs/ab", content_type="")


def ready(client: modelyard.Client, reference: str) -> modelyard.ModelVersion:
    return InternalCalls(client).commit_artifact(reference, modelyard.Artifact(files=(FILE,), total_size=3))


@pytest.fixture
def model(client: modelyard.Client, project: str) -> str:
    name = f"{project}/scorer"
    client.create_model(name)
    return name


def test_new_version_gets_next_number_and_starts_pending(client: modelyard.Client, model: str) -> None:
    first = client.create_version(model, framework="sklearn")
    second = client.create_version(model, framework="sklearn")
    assert (first.version, second.version) == (1, 2)
    assert second.reference == f"{model}:2"
    assert (second.stage, second.status) == (modelyard.Stage.DEVELOPMENT, modelyard.VersionStatus.PENDING_UPLOAD)
    assert second.author == "tester"
    assert client.get_model(model).latest_version == 2


def test_version_metadata_round_trips(client: modelyard.Client, model: str) -> None:
    signature = modelyard.Signature(
        inputs=(modelyard.TensorSpec("features", "FP32", (-1, 4)),),
        outputs=(modelyard.TensorSpec("label", "INT64", (-1,)),),
    )
    deps = (
        modelyard.Dependency("scikit-learn", "1.5.2", modelyard.DependencyScope.RUN),
        modelyard.Dependency("cython", ">=3", modelyard.DependencyScope.BUILD),
    )
    created = client.create_version(
        model,
        framework="sklearn",
        payload_format="skops",
        description="gradient boosting",
        signature=signature,
        hyperparameters={"max_depth": 6, "learning_rate": 0.1, "loss": "log_loss", "layers": [64, 32]},
        dependencies=deps,
        tags={"dataset": "2026-10"},
        data_location=modelyard.SourceLocation(uri="s3://datasets/churn/", revision="v7"),
    )
    got = client.get_version(created.reference)
    assert got.signature == signature
    assert got.dependencies == deps
    assert got.hyperparameters == {"max_depth": 6, "learning_rate": 0.1, "loss": "log_loss", "layers": [64, 32]}
    assert got.tags == {"dataset": "2026-10"}
    assert got.data_location == modelyard.SourceLocation(uri="s3://datasets/churn/", revision="v7")


def test_concurrent_creates_never_repeat_a_number(metadata_service, model: str) -> None:  # type: ignore[no-untyped-def]
    def create(_: int) -> int:
        with modelyard.connect(metadata_service.target) as c:
            return c.create_version(model).version

    with ThreadPoolExecutor(16) as pool:
        numbers = list(pool.map(create, range(48)))
    assert sorted(numbers) == list(range(1, 49))


def test_references_resolve_number_alias_and_latest_ready(client: modelyard.Client, model: str) -> None:
    for _ in range(3):
        client.create_version(model)
    with pytest.raises(errors.NotFoundError, match="has no READY version yet"):
        client.get_version(model)
    ready(client, f"{model}:1")
    ready(client, f"{model}:2")
    assert client.get_version(model).version == 2  # 3 is still uploading
    client.set_alias(model, "champion", 1)
    assert client.get_version(f"{model}@champion").version == 1
    assert client.get_version(f"{model}:3").status is modelyard.VersionStatus.PENDING_UPLOAD


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("scorer", "reference: 'scorer' has no project: use project/model:VERSION, project/model@ALIAS or"),
        ("/scorer:1", "reference: '/scorer:1' has no project before '/': use project/model:VERSION"),
        ("p/:1", "reference: 'p/:1' has no model after '/': use project/model:VERSION"),
        ("p/m@", "reference: 'p/m@' has no alias after '@': use project/model:VERSION"),
        ("p/m:0", "reference: version '0' in 'p/m:0' is not a positive integer"),
        ("p/m:x", "reference: version 'x' in 'p/m:x' is not a positive integer"),
        ("p/m:\u00b2", "reference: version '\u00b2' in 'p/m:\u00b2' is not a positive integer"),
        ("p/m:9223372036854775808", "reference: version '9223372036854775808' in 'p/m:9223372036854775808' is not"),
        ("p/m@1x", "reference: alias '1x' in 'p/m@1x' is not a valid alias: use lowercase letters, digits"),
        ("P/m", "reference: project 'P' in 'P/m' is not a valid name"),
    ],
)
def test_malformed_reference_is_invalid_argument(client: modelyard.Client, reference: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.get_version(reference)
    assert caught.value.message.startswith(message)


def test_the_cli_says_what_is_malformed_in_a_reference(client: modelyard.Client) -> None:
    ran = subprocess.run(
        [str(Path(sys.executable).parent / "modelyard"), "--target", client.target, "version", "get", "/scorer:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr == (
        "error: INVALID_ARGUMENT: reference: '/scorer:1' has no project before '/': use project/model:VERSION, "
        "project/model@ALIAS or project/model (its latest READY version)\n"
    )


def test_missing_version_and_alias_are_not_found(client: modelyard.Client, model: str) -> None:
    with pytest.raises(errors.NotFoundError, match=f"model '{model}' has no version 9"):
        client.get_version(f"{model}:9")
    with pytest.raises(errors.NotFoundError, match=f"model '{model}' has no alias 'prod'"):
        client.get_version(f"{model}@prod")


def test_bad_signature_datatype_names_the_field(client: modelyard.Client, model: str) -> None:
    bad = modelyard.Signature(inputs=(modelyard.TensorSpec("x", "FLOAT", (1,)),))
    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.create_version(model, signature=bad)
    assert caught.value.message.startswith("signature.inputs[0].datatype: 'FLOAT' is not one of")
    assert client.get_model(model).latest_version == 0  # nothing half-written


def test_produced_by_links_must_exist(client: modelyard.Client, model: str) -> None:
    with pytest.raises(errors.NotFoundError, match=r"produced_by\[0\]: version .*:7 does not exist"):
        client.create_version(model, produced_by=[f"{model}:7"])


def test_update_version_changes_only_masked_fields(client: modelyard.Client, model: str) -> None:
    created = client.create_version(model, description="before", tags={"a": "1"})
    updated = client.update_version(created.reference, tags={"b": "2"})
    assert (updated.tags, updated.description) == ({"b": "2"}, "before")


def test_commit_artifact_marks_ready_once(client: modelyard.Client, model: str) -> None:
    version = client.create_version(model)
    committed = ready(client, version.reference)
    assert committed.status is modelyard.VersionStatus.READY
    assert committed.artifact is not None and committed.artifact.files == (FILE,)
    assert ready(client, version.reference).status is modelyard.VersionStatus.READY  # idempotent
    other = modelyard.ArtifactFile(
        path="model.skops", size=4, sha256="cd" * 32, storage_key="blobs/cd", content_type=""
    )
    with pytest.raises(errors.FailedPreconditionError, match="already READY with a different artifact"):
        InternalCalls(client).commit_artifact(version.reference, modelyard.Artifact(files=(other,), total_size=4))


def test_failed_upload_cannot_become_ready(client: modelyard.Client, model: str) -> None:
    version = client.create_version(model)
    failed = InternalCalls(client).fail_upload(version.reference, "digest mismatch")
    assert (failed.status, failed.status_message) == (modelyard.VersionStatus.FAILED, "digest mismatch")
    with pytest.raises(errors.FailedPreconditionError, match="has FAILED"):
        ready(client, version.reference)


def test_stage_transitions_follow_the_table(client: modelyard.Client, model: str) -> None:
    ref = client.create_version(model).reference
    with pytest.raises(errors.FailedPreconditionError, match="cannot move from DEVELOPMENT to PRODUCTION"):
        client.transition_stage(ref, "PRODUCTION")
    with pytest.raises(errors.FailedPreconditionError, match="cannot enter VALIDATION while its artifact is PENDING"):
        client.transition_stage(ref, "VALIDATION")
    ready(client, ref)
    assert client.transition_stage(ref, "VALIDATION").stage is modelyard.Stage.VALIDATION
    assert client.transition_stage(ref, "PRODUCTION", reason="beats v0").stage is modelyard.Stage.PRODUCTION
    assert client.transition_stage(ref, "ARCHIVED").stage is modelyard.Stage.ARCHIVED
    with pytest.raises(errors.FailedPreconditionError, match="from ARCHIVED it can move to DEVELOPMENT"):
        client.transition_stage(ref, "VALIDATION")


def test_alias_moves_atomically_and_reads_follow(client: modelyard.Client, model: str) -> None:
    for _ in range(2):
        ready(client, client.create_version(model).reference)
    assert client.set_alias(model, "champion", 1).previous_version is None
    assert client.get_version(f"{model}@champion").version == 1  # now cached
    moved = client.set_alias(model, "champion", 2)
    assert (moved.previous_version, moved.version.version if moved.version else None) == (1, 2)
    assert client.get_version(f"{model}@champion").version == 2  # never the cached 1
    assert client.get_version(f"{model}:2").aliases == ("champion",)
    assert client.get_version(f"{model}:1").aliases == ()
    assert client.get_model(model).aliases == {"champion": 2}
    assert client.delete_alias(model, "champion").previous_version == 2
    with pytest.raises(errors.NotFoundError, match="has no alias 'champion'"):
        client.get_version(f"{model}@champion")
    with pytest.raises(errors.NotFoundError, match="has no alias 'champion'"):
        client.delete_alias(model, "champion")


def test_alias_cannot_point_at_missing_version(client: modelyard.Client, model: str) -> None:
    with pytest.raises(errors.NotFoundError, match="has no version 5"):
        client.set_alias(model, "champion", 5)


def test_a_models_lifecycle_shows_its_champion_else_its_newest_version(
    client: modelyard.Client, project: str, model: str
) -> None:
    Lifecycle, Stage, Status = modelyard.Lifecycle, modelyard.Stage, modelyard.VersionStatus
    assert client.get_model(model).lifecycle is None
    first = client.create_version(model)
    ready(client, first.reference)
    client.create_version(model)
    assert client.get_model(model).lifecycle == Lifecycle(2, Stage.DEVELOPMENT, Status.PENDING_UPLOAD)

    client.set_alias(model, "champion", 1)
    client.transition_stage(first.reference, "VALIDATION")
    # The cached model row read above is not served stale: both changes show at once.
    expected = Lifecycle(1, Stage.VALIDATION, Status.READY)
    assert client.get_model(model).lifecycle == expected
    assert [m.lifecycle for m in client.list_models(project) if m.full_name == model] == [expected]
