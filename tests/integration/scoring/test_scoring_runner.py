"""The deploy service's leader scores the runs itself: a new READY version's run is claimed,
scored through predictor workers on the dataset, its metrics computed from the labels, recorded
on the version, and the lifecycle gate follows the outcome (a real deploy service, with its own
token, on the scoring tests' platform)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.parquet
import pytest
import skops.io
from replica_processes import until
from scoring_platform import Churn, claim
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

import modelyard
from modelyard import ScoringRunState, Stage
from modelyard_common.embedded.service import ServiceProcess

ROWS = 400
TREE = "sklearn.tree._tree.Tree"  # a random forest's trees: a type skops does not trust by default


def _features(seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(ROWS, 2))
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def _holdout(client: modelyard.Client, project: str, folder: Path, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Features ``a``, ``b`` and their ``label`` (``_features(seed)``), pushed as dataset holdout
    of ``project``; its version's reference."""
    x, y = _features(seed)
    pyarrow.parquet.write_table(pyarrow.table({"a": x[:, 0], "b": x[:, 1], "label": y}), folder / "holdout.parquet")
    client.create_dataset(f"{project}/holdout")
    return x, y, client.push_dataset(f"{project}/holdout", folder / "holdout.parquet").reference


def _push_model(client: modelyard.Client, model: str, folder: Path, flip: bool) -> str:
    x, y = _features(1)
    folder.mkdir()
    skops.io.dump(LogisticRegression().fit(x, 1 - y if flip else y), folder / "model.skops")
    return client.push(model, folder, framework="sklearn", payload_format="skops").reference


def test_the_leader_scores_each_new_version_and_the_gate_follows(
    client: modelyard.Client, scoring_deploy: Callable[[Path], ServiceProcess], tmp_path: Path
) -> None:
    project = f"gate-{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    model = f"{project}/churn"
    client.create_model(model)
    x, y, dataset = _holdout(client, project, tmp_path, 2)
    client.set_score_definition(
        model,
        task="classification",
        inputs={"input": ["a", "b"]},
        label_column="label",
        prediction_output="predict",
        probability_output="predict_proba",
        thresholds={"accuracy": (0.9, None)},
    )
    test = client.create_scoring_test(
        model, "holdout", dataset=dataset, every_new_version=True, required_for=["validation"]
    )
    scoring_deploy(tmp_path / "deploy")

    good = _push_model(client, model, tmp_path / "good", flip=False)
    [queued] = [r for r in client.list_scoring_runs(test_id=test.id) if r.model_version == good]
    run = client.wait_scoring_run(queued.id, timeout=120)

    assert (run.state, run.trigger, run.rows, run.message) == (ScoringRunState.PASSED, "version.ready", ROWS, "")
    estimator = skops.io.load(tmp_path / "good" / "model.skops", trusted=[])
    features = np.column_stack([x[:, 0], x[:, 1]])
    values = {m.name: m.value for m in run.metrics}
    assert values["accuracy"] == pytest.approx(accuracy_score(y, estimator.predict(features)))
    assert values["roc_auc"] == pytest.approx(roc_auc_score(y, estimator.predict_proba(features)[:, 1]))
    assert values["confusion_matrix"] == {
        "labels": [0, 1],
        "matrix": confusion_matrix(y, estimator.predict(features)).tolist(),
    }
    [history] = client.metric_history(good, "accuracy")
    assert history.source is not None
    assert (history.source.scoring_run, history.source.scoring_test, history.source.dataset) == (
        run.id,
        "holdout",
        dataset,
    )
    assert client.transition_stage(good, Stage.VALIDATION, reason="passed holdout").stage is Stage.VALIDATION

    bad = _push_model(client, model, tmp_path / "bad", flip=True)
    [queued] = [r for r in client.list_scoring_runs(test_id=test.id) if r.model_version == bad]
    failed = client.wait_scoring_run(queued.id, timeout=120)
    assert failed.state is ScoringRunState.FAILED
    assert failed.message.startswith("accuracy 0.") and failed.message.endswith(" < min 0.9")
    with pytest.raises(modelyard.FailedPreconditionError) as refused:
        client.transition_stage(bad, Stage.VALIDATION)
    assert "scoring test 'holdout' has passed on it (last run: FAILED)" in refused.value.message

    # A definition naming an output the model does not have: the run says so (ERROR).
    client.set_score_definition(
        model, task="classification", inputs={"input": ["a", "b"]}, label_column="label", prediction_output="label"
    )
    errored = client.wait_scoring_run(client.run_scoring_test(test.id, version=1).id, timeout=120)
    assert (errored.state, errored.message) == (
        ScoringRunState.ERROR,
        "prediction_output 'label' is not an output of the model (predict, predict_proba)",
    )


def test_a_leader_starting_removes_the_workers_folders_of_runs_no_longer_running(
    client: modelyard.Client,
    runner: Any,
    churn: Churn,
    scoring_deploy: Callable[[Path], ServiceProcess],
    tmp_path: Path,
) -> None:
    test = client.create_scoring_test(churn.model, "holdout", dataset=churn.dataset, version=1)
    running = client.run_scoring_test(test.id)
    claim(runner, running.id, "elsewhere", lease_seconds=600)  # another replica scores it
    ended = client.run_scoring_test(test.id)
    claim(runner, ended.id, "elsewhere")
    runner.record_scoring_result(ended.id, "elsewhere", 1, error="the model failed to load")
    jobs = tmp_path / "deploy" / "replicas" / "jobs"
    folders = {name: jobs / f"scoring-{name}" for name in (running.id, ended.id, str(uuid.uuid4()), "garbage")}
    for folder in folders.values():
        folder.mkdir(parents=True)
        (folder / "worker-0.log").write_text("a dead runner's worker")

    scoring_deploy(tmp_path / "deploy")

    until(lambda: sorted(jobs.iterdir()) == [folders[running.id]], "the folders of runs no longer running removed", 60)


def test_a_test_trusting_a_type_scores_a_skops_model_that_needs_it(
    client: modelyard.Client, scoring_deploy: Callable[[Path], ServiceProcess], tmp_path: Path
) -> None:
    project = f"forest-{uuid.uuid4().hex[:8]}"
    client.create_project(project)
    model = f"{project}/forest"
    x, y, dataset = _holdout(client, project, tmp_path, 3)
    (tmp_path / "forest").mkdir()
    skops.io.dump(RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y), tmp_path / "forest" / "model.skops")
    assert TREE in skops.io.get_untrusted_types(file=tmp_path / "forest" / "model.skops")
    client.push(model, tmp_path / "forest", framework="sklearn", payload_format="skops")
    client.set_score_definition(
        model,
        task="classification",
        inputs={"input": ["a", "b"]},
        label_column="label",
        prediction_output="predict",
        metrics=["accuracy"],
    )
    test = client.create_scoring_test(model, "holdout", dataset=dataset, version=1)
    scoring_deploy(tmp_path / "deploy")

    refused = client.wait_scoring_run(client.run_scoring_test(test.id).id, timeout=120)
    assert refused.state is ScoringRunState.ERROR and TREE in refused.message
    client.update_scoring_test(test.id, trusted_types=[TREE], reason="its trees")
    scored = client.wait_scoring_run(client.run_scoring_test(test.id).id, timeout=120)
    assert (scored.state, scored.rows, scored.message) == (ScoringRunState.PASSED, ROWS, "")
