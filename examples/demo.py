"""Modelyard end to end, against the platform `make run` starts: register the training and test
data as datasets, define how the model is scored and a scoring test that gates VALIDATION, train a
scikit-learn model, register it with its metrics, push it (its scoring test runs by itself, and
the gate lets it into VALIDATION), deploy it, predict, roll forward to a second version and back,
score the test data in a batch job, then print the deployment's revisions and the project's audit
trail.

    make run     # in one terminal
    make demo    # in another (this script, with the venv's python)

The metadata service's address comes from MODELYARD_METADATA_ADDR (make run's default:
127.0.0.1:7410); it tells where the registry and deploy services are, unless
MODELYARD_REGISTRY_ADDR / MODELYARD_DEPLOY_ADDR say it. The token comes from MODELYARD_TOKEN (`make demo`
passes make run's admin token, .modelyard/admin-token, when it is unset). Each run makes a project and a deployment
of its own (``demo-<suffix>``); the deployment is deleted at the end, the project and its
versions are kept to be looked at (``modelyard version get demo-<suffix>/cancer:1``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas
import sklearn
import skops
import skops.io
from train import Data, train  # examples/train.py, beside this script

import modelyard
from modelyard import Deployment, DeploymentState, ReplicaState, Signature, TensorSpec

WAIT_SECONDS = 180.0
SAMPLE_ROWS = 5


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def timed(what: str) -> Iterator[dict[str, Any]]:
    """Prints ``what`` with the seconds it took, and ``note["detail"]`` when the step sets it."""
    note: dict[str, Any] = {}
    started = time.perf_counter()
    yield note
    detail = f": {note['detail']}" if "detail" in note else ""
    say(f"[{time.perf_counter() - started:6.2f} s] {what}{detail}")


def unreachable(addresses: dict[str, str]) -> list[str]:
    """The services that accept no connection within a few seconds (waited for together)."""
    channels = {service: grpc.insecure_channel(address) for service, address in addresses.items()}
    waits = {service: grpc.channel_ready_future(channel) for service, channel in channels.items()}
    deadline = time.monotonic() + 3
    down = []
    for service, ready in waits.items():
        try:
            ready.result(timeout=max(0.0, deadline - time.monotonic()))
        except grpc.FutureTimeoutError:
            ready.cancel()
            down.append(f"{service} service at {addresses[service]}")
    for channel in channels.values():
        channel.close()
    return down


# --- the model ------------------------------------------------------------------------------


SIGNATURE = Signature(
    inputs=(TensorSpec("input", "FP64", (-1, 30)),),
    outputs=(TensorSpec("predict", "INT64", (-1,)), TensorSpec("predict_proba", "FP64", (-1, 2))),
)
DEPENDENCIES = [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}", f"numpy=={np.__version__}"]
THRESHOLDS = {"accuracy": (0.9, None), "roc_auc": (0.95, None)}


# --- the data and how the model is scored -----------------------------------------------------


def columns(data: Data) -> list[str]:
    """The feature names as dataset columns ("mean radius" -> "mean_radius")."""
    return [name.replace(" ", "_") for name in data.features]


def register_data(client: modelyard.Client, project: str, data: Data, workdir: Path) -> tuple[str, str]:
    """The training and test rows as two datasets (a row number, the 30 features, the label);
    returns their versions' references."""
    references = []
    for name, x, y in (("cancer-train", data.x_train, data.y_train), ("cancer-test", data.x_test, data.y_test)):
        table = pandas.DataFrame(x, columns=columns(data))
        table.insert(0, "row", range(len(table)))
        table["label"] = y
        path = workdir / f"{name}.parquet"
        table.to_parquet(path, index=False)
        client.create_dataset(f"{project}/{name}", description="breast cancer rows (make demo)")
        references.append(client.push_dataset(f"{project}/{name}", path).reference)
    return references[0], references[1]


def define_scoring(client: modelyard.Client, model_name: str, data: Data, test_data: str) -> str:
    """The score definition (30 columns into the input, the label, the outputs, thresholds) and a
    test on the test data that runs on every new version and gates VALIDATION; returns its id."""
    client.set_score_definition(
        model_name,
        task="classification",
        inputs={"input": columns(data)},
        label_column="label",
        prediction_output="predict",
        probability_output="predict_proba",
        thresholds=THRESHOLDS,
        reason="make demo: the bar to clear",
    )
    test = client.create_scoring_test(
        model_name, "holdout", dataset=test_data, every_new_version=True, required_for=["validation"]
    )
    return test.id


def scored(client: modelyard.Client, test_id: str, reference: str) -> modelyard.ScoringRun:
    """The run the new version's READY queued for ``test_id``, once finished."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (runs := [r for r in client.list_scoring_runs(test_id=test_id) if r.model_version == reference]):
        if time.monotonic() > deadline:
            raise modelyard.DeadlineExceededError(f"no scoring run of {reference} after {WAIT_SECONDS:g} s")
        time.sleep(0.2)
    return client.wait_scoring_run(runs[0].id, timeout=WAIT_SECONDS)


def gate(client: modelyard.Client, test_id: str, reference: str) -> None:
    """Waits for the version's scoring test, then moves it to VALIDATION, which the test gates."""
    with timed(f"scoring test of {reference} ran by itself") as note:
        run = scored(client, test_id, reference)
        values = {m.name: m.value for m in run.metrics}
        note["detail"] = (
            f"{run.state} on {run.rows} rows: accuracy {values.get('accuracy', 0):.3f}, "
            f"ROC AUC {values.get('roc_auc', 0):.4f}, F1 {values.get('f1', 0):.3f} {run.message}".rstrip()
        )
    with timed(f"{reference} entered VALIDATION") as note:
        moved = client.transition_stage(reference, "validation", reason="the holdout scoring test passed")
        note["detail"] = f"stage {moved.stage}"


def register(client: modelyard.Client, model_name: str, data: Data, c: float, workdir: Path) -> str:
    """Trains, registers a version with its metadata and metrics, pushes its artifact; returns
    the READY version's reference."""
    with timed(f"trained a logistic regression (C={c})") as note:
        model, metrics = train(data, c)
        note["detail"] = f"accuracy {metrics['accuracy']:.3f}, AUC {metrics['auc']:.4f}"
    directory = workdir / f"c-{c}"
    directory.mkdir()
    skops.io.dump(model, directory / "model.skops")
    with timed("registered") as note:
        version = client.create_version(
            model_name,
            framework="sklearn",
            payload_format="skops",
            description=f"logistic regression, C={c}",
            signature=SIGNATURE,
            hyperparameters={"C": c, "max_iter": 2000, "scaler": "standard"},
            dependencies=DEPENDENCIES,
        )
        client.log_metrics(version.reference, metrics)
        top = next(iter(metrics["feature_importance"]))
        note["detail"] = f"{version.reference} {version.status}, metrics logged (most important: {top!r})"
    with timed("pushed") as note:
        pushed = client.push(version.reference, directory)
        size = pushed.artifact.total_size if pushed.artifact else 0
        note["detail"] = f"{pushed.reference} {pushed.status}, {size} bytes"
    return pushed.reference


# --- the deployment -------------------------------------------------------------------------


def replicas_text(deployment: Deployment) -> str:
    return ", ".join(f"r{r.revision}:{r.state}" for r in deployment.replica_status) or "none"


def follow(client: modelyard.Client, name: str, revision: int) -> Deployment:
    """Polls deployment ``name`` until ``revision`` is AVAILABLE and the replicas it replaced are
    gone, printing each change of its state and replicas."""
    started, seen = time.perf_counter(), ""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        deployment = client.get_deployment(name)
        line = f"{deployment.state} revision {deployment.revision}, replicas {replicas_text(deployment)}"
        if line != seen:
            say(f"    {time.perf_counter() - started:5.2f} s  {line}")
            seen = line
        settled = all(r.revision == revision and r.state is ReplicaState.READY for r in deployment.replica_status)
        if deployment.state is DeploymentState.AVAILABLE and deployment.revision == revision and settled:
            return deployment
        if deployment.state is DeploymentState.FAILED:
            raise modelyard.FailedPreconditionError(f"deployment {name} FAILED: {deployment.status_message}")
        if time.monotonic() > deadline:
            raise modelyard.DeadlineExceededError(f"deployment {name} not settled after {WAIT_SECONDS:g} s")
        time.sleep(0.1)


def predict(client: modelyard.Client, name: str, data: Data) -> None:
    rows = data.x_test[:SAMPLE_ROWS]
    with timed(f"predicted {SAMPLE_ROWS} rows through {name}") as note:
        outputs = client.predict(name, {"input": rows})
        probability = outputs["predict_proba"][:, 1]
        note["detail"] = (
            f"labels {outputs['predict'].tolist()} (truth {data.y_test[:SAMPLE_ROWS].tolist()}), "
            f"P(benign) {np.round(probability, 3).tolist()}"
        )


def change(client: modelyard.Client, name: str, what: str, act: Callable[[], Deployment]) -> None:
    with timed(what) as note:
        started = act()
        say(f"  {what}: revision {started.revision} -> {started.version_reference}")
        done = follow(client, name, started.revision)
        note["detail"] = f"revision {done.revision} serves {done.version_reference} on {len(done.endpoints)} replicas"


def run(client: modelyard.Client, workdir: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    project, name = f"demo-{suffix}", f"demo-{suffix}"
    model_name = f"{project}/cancer"
    data = Data()
    with timed("created project and model") as note:
        client.create_project(project, description="make demo", owner=client.actor)
        client.create_model(model_name, description="breast cancer classifier", team="demo")
        note["detail"] = model_name
    with timed("registered the data") as note:
        train_data, test_data = register_data(client, project, data, workdir)
        note["detail"] = f"{train_data} ({len(data.y_train)} rows), {test_data} ({len(data.y_test)} rows)"
    with timed("defined the score logic and its scoring test") as note:
        test_id = define_scoring(client, model_name, data, test_data)
        note["detail"] = "holdout on every new version, gating VALIDATION: " + ", ".join(
            f"{metric} >= {low}" for metric, (low, _) in THRESHOLDS.items()
        )
    v1 = register(client, model_name, data, 1.0, workdir)
    client.link_dataset(v1, train_data, "trained_on")
    gate(client, test_id, v1)

    with timed(f"deployed {v1} as {name} and predicted") as note:
        asked = time.perf_counter()
        created = client.deploy(name, v1, replicas=2)
        say(f"  deployment {name}: {created.state}, revision {created.revision}")
        deployed = follow(client, name, created.revision)
        first = client.predict(name, {"input": data.x_test[:1]})
        note["detail"] = (
            f"AVAILABLE at {', '.join(deployed.endpoints)}, first label {first['predict'].tolist()} "
            f"{time.perf_counter() - asked:.2f} s after CreateDeployment"
        )
    try:
        predict(client, name, data)
        v2 = register(client, model_name, data, 0.01, workdir)
        change(
            client,
            name,
            f"rolled forward to {v2}",
            lambda: client.update_deployment(name, reference=v2, reason="C=0.01"),
        )
        predict(client, name, data)
        change(
            client,
            name,
            "rolled back to revision 1",
            lambda: client.rollback_deployment(name, revision=1, reason="demo: back to v1"),
        )
        predict(client, name, data)
        with timed(f"batch-scored {test_data} with {v1}") as note:
            job = client.create_job(
                v1, dataset=test_data, key="row", output=f"{project}/cancer-scores", inputs={"input": columns(data)}
            )
            done = client.wait_job(job.id, timeout=WAIT_SECONDS)
            note["detail"] = f"job {done.state}, {done.rows_done} rows -> {done.output_version or done.error}"

        say("revisions of the deployment (newest first):")
        for revision in client.deployment_revisions(name):
            say(f"  {revision.revision}  {revision.version_reference:<24} {revision.actor:<10} {revision.reason}")
        say(f"audit trail of project {project} (oldest first):")
        for event in reversed(list(client.audit_events(project=project))):
            moment = event.time.strftime("%H:%M:%S") if event.time else ""
            say(f"  {moment}  {event.actor:<10} {event.action:<18} {event.resource}")
    finally:
        with timed(f"deleted deployment {name} (project {project} kept)"):
            client.delete_deployment(name)


def main() -> int:
    metadata = os.environ.get("MODELYARD_METADATA_ADDR") or "127.0.0.1:7410"
    # The registry's and deploy service's addresses: MODELYARD_REGISTRY_ADDR / _DEPLOY_ADDR, else
    # where the metadata service says they are.
    client = modelyard.connect(metadata, actor=os.environ.get("MODELYARD_ACTOR") or "demo")
    try:
        with client, tempfile.TemporaryDirectory(prefix="modelyard-demo-") as workdir:
            down = unreachable({"metadata": metadata})
            if not down:
                down = unreachable({"registry": client.registry, "deploy": client.deploy_target})
            if down:
                print(
                    f"error: the platform is not running: no answer from the {', '.join(down)}; "
                    "start it with `make run` (or set MODELYARD_METADATA_ADDR to where it runs)",
                    file=sys.stderr,
                )
                return 1
            started = time.perf_counter()
            run(client, Path(workdir))
    except modelyard.ModelyardError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
