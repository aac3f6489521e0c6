"""``modelyard.load``: real versions pushed through the registry, predicted in one line."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from serving_models import (
    FEATURES,
    LABELS,
    ONNX_BIAS,
    ONNX_WEIGHTS,
    logistic_regression,
    metric,
    push_custom,
    push_onnx,
    push_pickle,
    push_skops,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard import EnsembleMethod, ModelKind, Serving
from modelyard.errors import FailedPreconditionError, InvalidArgumentError
from modelyard.predictors import ArtifactCache
from modelyard_common.embedded.service import ServiceProcess

ModelDir = Callable[[str], Path]


def test_a_skops_model_predicts_as_the_estimator_itself(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    estimator = logistic_regression()
    reference = push_skops(client, f"{project}/churn", estimator, model_dir("churn"))
    client.set_alias(f"{project}/churn", "champion", 1)

    predictor = modelyard.load(f"{project}/churn@champion", client=client, cache_dir=tmp_path / "cache")

    assert predictor.version.reference == reference and predictor.platform == "sklearn_skops"
    assert [(s.name, s.datatype, s.shape) for s in predictor.inputs] == [("input", "FP64", (-1, 4))]
    assert [(s.name, s.datatype) for s in predictor.outputs] == [("predict", "INT64"), ("predict_proba", "FP64")]
    outputs = predictor.predict({"input": FEATURES})
    np.testing.assert_array_equal(outputs["predict"], estimator.predict(FEATURES))
    np.testing.assert_allclose(outputs["predict_proba"], estimator.predict_proba(FEATURES))
    assert (outputs["predict"] == LABELS).mean() > 0.9
    with pytest.raises(InvalidArgumentError, match=r"^input: datatype FP32, the model takes FP64$"):
        predictor.predict({"input": FEATURES.astype(np.float32)})


def test_an_onnx_model_takes_its_tensors_from_the_graph(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    push_onnx(client, f"{project}/affine", model_dir("affine"))

    predictor = modelyard.load(f"{project}/affine", client=client, cache_dir=tmp_path / "cache")

    assert predictor.platform == "onnxruntime_onnx"
    assert [(s.name, s.datatype, s.shape) for s in predictor.inputs] == [("x", "FP32", (-1, 4))]
    assert [(s.name, s.datatype, s.shape) for s in predictor.outputs] == [("y", "FP32", (-1, 3))]
    x = FEATURES.astype(np.float32)
    np.testing.assert_allclose(predictor.predict({"x": x})["y"], x @ ONNX_WEIGHTS + ONNX_BIAS, rtol=1e-5)


def test_a_second_load_comes_from_the_cache_without_downloading(
    client: modelyard.Client,
    project: str,
    model_dir: ModelDir,
    tmp_path: Path,
    registry_service: ServiceProcess,
) -> None:
    reference = push_onnx(client, f"{project}/affine", model_dir("affine"))
    downloaded = lambda: metric(  # noqa: E731
        registry_service.metrics_url, "modelyard_registry_bytes_total", direction="download"
    )
    model_file = (tmp_path / "models" / "affine" / "affine.onnx").read_bytes()
    blob = ArtifactCache(tmp_path / "cache").blob(hashlib.sha256(model_file).hexdigest())
    before = downloaded()
    modelyard.load(reference, client=client, cache_dir=tmp_path / "cache")
    after_first, written = downloaded(), blob.stat().st_mtime_ns
    assert after_first - before == len(model_file) and blob.read_bytes() == model_file

    again = modelyard.load(reference, client=client, cache_dir=tmp_path / "cache")

    assert downloaded() == after_first and blob.stat().st_mtime_ns == written
    assert again.predict({"x": np.ones((1, 4), np.float32)})["y"].shape == (1, 3)
    modelyard.load(reference, client=client, cache_dir=tmp_path / "other-cache")  # another cache downloads
    assert downloaded() > after_first


def test_a_custom_model_runs_its_entry_point_with_its_directory(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    push_custom(client, f"{project}/scaler", model_dir("scaler"), 2.5, "predictor:Scaler")

    predictor = modelyard.load(f"{project}/scaler", client=client, cache_dir=tmp_path / "cache")

    assert predictor.platform == "modelyard_custom"
    np.testing.assert_array_equal(predictor.predict({"x": np.array([1.0, -2.0])})["scaled"], [2.5, -5.0])


def test_a_broken_entry_point_is_refused_with_the_reason(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    push_custom(client, f"{project}/scaler", model_dir("scaler"), 2.5, "predictor:Missing")

    with pytest.raises(FailedPreconditionError, match=r"serving.entry_point predictor:Missing failed: AttributeError"):
        modelyard.load(f"{project}/scaler", client=client, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    ("method", "expected"),
    [(EnsembleMethod.AVERAGE, [3.0, -6.0]), (EnsembleMethod.VOTE, [2.0, -4.0]), (EnsembleMethod.CHAIN, [8.0, -16.0])],
)
def test_an_ensemble_combines_its_members(
    client: modelyard.Client,
    project: str,
    model_dir: ModelDir,
    tmp_path: Path,
    method: EnsembleMethod,
    expected: list[float],
) -> None:
    doubler = push_custom(client, f"{project}/double", model_dir("double"), 2.0, "predictor:Scaler")
    quadrupler = push_custom(client, f"{project}/quad", model_dir("quad"), 4.0, "predictor:Scaler")
    client.create_model(f"{project}/combined", kind=ModelKind.ENSEMBLE)
    # VOTE between two members that disagree everywhere: a tie, which goes to the first.
    serving = Serving(ensemble_method=method, members=(doubler, quadrupler))
    ensemble = client.create_version(f"{project}/combined", serving=serving)

    predictor = modelyard.load(ensemble.reference, client=client, cache_dir=tmp_path / "cache")

    assert predictor.platform == "modelyard_ensemble"
    np.testing.assert_array_equal(predictor.predict({"x": np.array([1.0, -2.0])})["scaled"], expected)


def test_a_vote_takes_the_majority_of_classifiers(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    members = []
    for index, flip in enumerate((False, True, False)):
        labels = 1 - LABELS if flip else LABELS
        estimator = logistic_regression().fit(FEATURES, labels)
        members.append(push_skops(client, f"{project}/m{index}", estimator, model_dir(f"m{index}")))
    client.create_model(f"{project}/vote", kind=ModelKind.ENSEMBLE)
    serving = Serving(ensemble_method=EnsembleMethod.VOTE, members=tuple(members))
    ensemble = client.create_version(f"{project}/vote", serving=serving)

    predicted = modelyard.load(ensemble.reference, client=client, cache_dir=tmp_path / "cache").predict(
        {"input": FEATURES}
    )

    np.testing.assert_array_equal(predicted["predict"], logistic_regression().predict(FEATURES))


def test_pickles_load_only_when_allowed(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    estimator = logistic_regression()
    reference = push_pickle(client, f"{project}/legacy", estimator, model_dir("legacy"))

    with pytest.raises(FailedPreconditionError, match=r"model.pkl is a pkl file, .* with allow_pickle=True"):
        modelyard.load(reference, client=client, cache_dir=tmp_path / "cache")
    predictor = modelyard.load(reference, client=client, cache_dir=tmp_path / "cache", allow_pickle=True)

    assert predictor.platform == "sklearn_pkl"
    np.testing.assert_array_equal(predictor.predict({"input": FEATURES})["predict"], estimator.predict(FEATURES))


def test_a_skops_file_with_untrusted_types_loads_only_when_they_are_trusted(
    client: modelyard.Client, project: str, model_dir: ModelDir, tmp_path: Path
) -> None:
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(FEATURES, LABELS)
    reference = push_skops(client, f"{project}/forest", forest, model_dir("forest"))

    with pytest.raises(FailedPreconditionError, match=r"types skops does not trust: sklearn.tree._tree.Tree;"):
        modelyard.load(reference, client=client, cache_dir=tmp_path / "cache")
    trusted = ["sklearn.tree._tree.Tree"]
    predictor = modelyard.load(reference, client=client, cache_dir=tmp_path / "cache", trusted_types=trusted)

    np.testing.assert_array_equal(predictor.predict({"input": FEATURES})["predict"], forest.predict(FEATURES))


def test_a_version_that_is_not_ready_is_refused(client: modelyard.Client, project: str, tmp_path: Path) -> None:
    client.create_model(f"{project}/pending")
    version = client.create_version(f"{project}/pending", payload_format="skops")

    with pytest.raises(FailedPreconditionError, match=rf"^{version.reference} is PENDING_UPLOAD; only READY"):
        modelyard.load(version.reference, client=client, cache_dir=tmp_path / "cache")


def test_a_fetch_only_server_fills_the_cache_its_server_then_loads_from_without_the_registry(
    client: modelyard.Client,
    project: str,
    model_dir: ModelDir,
    tmp_path: Path,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
) -> None:
    """What a Kubernetes inference pod's init container runs (`python -m modelyard_serving
    --fetch-only`, with the server's settings): afterwards the version, an ensemble's members
    included, loads from the cache with no registry to ask."""
    push_skops(client, f"{project}/churn", logistic_regression(), model_dir("churn"))
    push_skops(client, f"{project}/churn", LogisticRegression(C=0.1).fit(FEATURES, LABELS), model_dir("churn-2"))
    client.create_model(f"{project}/pair", kind=ModelKind.ENSEMBLE)
    pair = client.create_version(
        f"{project}/pair",
        serving=Serving(ensemble_method=EnsembleMethod.AVERAGE, members=(f"{project}/churn:1", f"{project}/churn:2")),
    )
    settings = {
        "MLREG_SERVING_REFERENCE": pair.reference,
        "MLREG_SERVING_METADATA_ADDR": metadata_service.target,
        "MLREG_SERVING_REGISTRY_ADDR": registry_service.target,
        "MLREG_SERVING_CACHE_DIR": str(tmp_path / "cache"),
        "MLREG_SERVING_LOG_FORMAT": "console",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLREG_", "MODELYARD_"))} | settings
    fetched = subprocess.run(
        [sys.executable, "-m", "modelyard_serving", "--fetch-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert fetched.returncode == 0, fetched.stderr
    assert f"fetched {pair.reference}, {project}/churn:1, {project}/churn:2 into" in fetched.stderr
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{closed.getsockname()[1]}"
    with modelyard.connect(metadata_service.target, registry=nowhere, actor="tester") as offline:
        predictor = modelyard.load(pair.reference, client=offline, cache_dir=tmp_path / "cache")
    assert predictor.predict({"input": FEATURES})["predict_proba"].shape == (len(FEATURES), 2)
