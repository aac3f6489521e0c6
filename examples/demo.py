"""Modelyard end to end, against the platform `make run` starts: train a scikit-learn model,
register it with its metrics, push it, deploy it, predict, roll forward to a second version and
back, then print the deployment's revisions and the project's audit trail.

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
    v1 = register(client, model_name, data, 1.0, workdir)

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
