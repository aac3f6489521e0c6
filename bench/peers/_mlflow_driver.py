"""The MLflow side of the side-by-side benchmark: each operation of ``_driver.OPS`` through
MLflow's own client (``MlflowClient``, ``mlflow.sklearn``, ``mlflow models serve``), run by the
MLflow virtual environment's Python against ``mlflow server``.

    .bench/mlflow-venv/bin/python bench/peers/_mlflow_driver.py '{"folder": "..."}'

Arguments: one JSON object with a folder of its own; the server comes from MLFLOW_TRACKING_URI.
Requests on stdin, replies on stdout (see _driver).

MLflow keeps metrics on runs and logged models, not on model versions, and orders model versions
only by name, version or time. So each seeded version is registered from a logged model of its
own that carries its team tag and accuracy (MLflow 3's model-centric layout), and "order by a
metric" is ``search_logged_models`` over those logged models, MLflow's own answer to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import Metric

from bench._load import timed_threads
from bench.peers._driver import (
    SEARCH_MODELS,
    first_predictions,
    metric_names,
    sample,
    seed_row,
    serve,
    transfers,
    until,
)

FILTER = "tags.team = 'vision'"
SEED_CHUNK = 100
"""Seeded versions per run: their accuracies go in one log_batch."""
MARK_SEED = 2
"""Marks this driver's uploads apart from the Modelyard driver's."""


def now_ms() -> int:
    return int(time.time() * 1000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MlflowOps:
    def __init__(self, config: dict[str, str]) -> None:
        self.client = MlflowClient()
        self.folder = Path(config["folder"])
        self.experiment = ""
        self.source = ""
        self.model_id = ""
        self.metrics_run = ""
        self.seeded = 0
        self.served = 0

    def prepare(self, threads: int) -> dict[str, Any]:
        """The experiment, a registered model per create thread, the search models,
        ``alias@champion``, the run that receives metrics, and the logged model every created
        version is registered from."""
        client = self.client
        self.experiment = client.create_experiment("peers")
        logged = client.create_logged_model(self.experiment, name="create")
        self.source, self.model_id = f"models:/{logged.model_id}", logged.model_id
        for name in [f"create-{i}" for i in range(threads)] + [f"search-{i:03d}" for i in range(SEARCH_MODELS)]:
            client.create_registered_model(name)
        client.create_registered_model("alias")
        version = client.create_model_version("alias", self.source, model_id=self.model_id)
        client.set_registered_model_alias("alias", "champion", version.version)
        self.metrics_run = client.create_run(self.experiment).info.run_id
        return {}

    def create(self, threads: int, seconds: float, warmup: float) -> dict[str, Any]:
        """New model versions, each thread on its own registered model."""
        calls = [
            functools.partial(self.client.create_model_version, f"create-{i}", self.source, model_id=self.model_id)
            for i in range(threads)
        ]
        return asdict(timed_threads(calls, seconds, warmup))

    def get_alias(self, threads: int, seconds: float, warmup: float) -> dict[str, Any]:
        call = functools.partial(self.client.get_model_version_by_alias, "alias", "champion")
        return asdict(timed_threads([call] * threads, seconds, warmup))

    def seed(self, total: int, threads: int) -> dict[str, Any]:
        """Versions up to ``total`` seeded ones: per chunk of SEED_CHUNK, a run; per version a
        logged model with its team tag, registered as a version with the same tag; then the
        chunk's accuracies, each for its logged model, in one log_batch of the run."""

        def chunk(first: int) -> None:
            run = self.client.create_run(self.experiment).info.run_id
            metrics = []
            for index in range(first, min(first + SEED_CHUNK, total)):
                model, team, accuracy = seed_row(index)
                logged = self.client.create_logged_model(self.experiment, source_run_id=run, tags={"team": team})
                self.client.create_model_version(
                    f"search-{model:03d}",
                    f"models:/{logged.model_id}",
                    run_id=run,
                    tags={"team": team},
                    model_id=logged.model_id,
                )
                metrics.append(Metric("accuracy", accuracy, now_ms(), 0, model_id=logged.model_id))
            self.client.log_batch(run, metrics=metrics)
            self.client.set_terminated(run)

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(chunk, range(self.seeded, total, SEED_CHUNK)))
        self.seeded = max(self.seeded, total)
        return {"seconds": time.perf_counter() - started}

    def search(self, ordered: bool, seconds: float, warmup: float) -> dict[str, Any]:
        """A page of 100 model versions of team "vision" (MLflow's default order), or of 100
        logged models of team "vision" by accuracy, best first."""
        if ordered:
            order = [{"field_name": "metrics.accuracy", "ascending": False}]
            call = functools.partial(
                self.client.search_logged_models, [self.experiment], FILTER, max_results=100, order_by=order
            )
        else:
            call = functools.partial(self.client.search_model_versions, FILTER, max_results=100)
        timed = timed_threads([call], seconds, warmup)
        page = call()
        first = next((m.value for m in page[0].metrics if m.key == "accuracy"), None) if ordered else None
        return {**asdict(timed), "rows": len(page), "first": first}

    def log_metrics(self, one_call: bool, seconds: float, warmup: float) -> dict[str, Any]:
        """Each call logs the 100 metrics of one run at the next step in a log_batch
        (``one_call``), or one of them, the next in turn, at the next step with log_metric, as a
        training loop does."""
        names = metric_names()
        steps = iter(range(1, 1 << 62))

        def batch() -> None:
            step = next(steps)
            metrics = [Metric(n, step / 1000, now_ms(), step) for n in names]
            self.client.log_batch(self.metrics_run, metrics=metrics)

        def each() -> None:
            step = next(steps)
            self.client.log_metric(self.metrics_run, names[step % len(names)], step / 1000, step=step)

        return asdict(timed_threads([batch if one_call else each], seconds, warmup))

    def transfer(self, path: str, repeat: int) -> dict[str, Any]:
        """Log the file as an artifact of a new run, then download it."""
        return transfers(self._round_trip, Path(path), repeat, MARK_SEED)

    def _round_trip(self, path: Path) -> tuple[float, float]:
        run = self.client.create_run(self.experiment).info.run_id
        dest = self.folder / f"download-{run}"
        dest.mkdir()
        os.sync()
        started = time.perf_counter()
        self.client.log_artifact(run, str(path))
        logged = time.perf_counter()
        os.sync()
        started_download = time.perf_counter()
        local = Path(self.client.download_artifacts(run, path.name, str(dest)))
        downloaded = time.perf_counter()
        if local.stat().st_size != path.stat().st_size:
            raise RuntimeError(f"download of run {run}'s {path.name}: {local} has not the size logged")
        shutil.rmtree(dest)
        self.client.set_terminated(run)
        return logged - started, downloaded - started_download

    def first_prediction(self, repeat: int) -> dict[str, Any]:
        """From a fitted model in memory: ``mlflow.sklearn.log_model`` in a run with
        ``registered_model_name`` (a new registered model), ``mlflow models serve --env-manager
        local`` of that version, POST /invocations until it answers."""
        return first_predictions(self._serve_once, repeat)

    def _serve_once(self, model: Any) -> tuple[float, float, int]:
        self.served += 1
        name = f"served-{self.served}"
        port = free_port()
        body = json.dumps({"inputs": sample().tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )

        def invoke() -> Any:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited ({server.returncode}); see {log.name}")
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)

        started = time.perf_counter()
        with mlflow.start_run(experiment_id=self.experiment):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
        registered = time.perf_counter()
        mlflow_cli = Path(sys.executable).with_name("mlflow")
        command = [str(mlflow_cli), "models", "serve", "-m", f"models:/{name}/{info.registered_model_version}"]
        command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
        with (self.folder / f"{name}.log").open("wb") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # Refused until it listens; 5xx (an HTTPError, an OSError too) while the model loads.
            answer = until(invoke, (OSError,), 120)
            answered = time.perf_counter()
        finally:
            stop(server)
        return answered - started, registered - started, int(answer["predictions"][0])


def stop(server: subprocess.Popen[bytes]) -> None:
    """The server's process group (it started its own: the CLI and its uvicorn workers), SIGTERM
    then, after 10 s, SIGKILL; then every worker that outlived the CLI is reaped here."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    except ProcessLookupError:
        server.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


def reap_orphans_here() -> None:
    """Makes this driver the reaper of its descendants' orphans (Linux: a child subreaper): the
    uvicorn workers of ``mlflow models serve`` exit after its CLI, and reaped by init their CPU
    would count as the machine's other load instead of MLflow's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


_PR_SET_CHILD_SUBREAPER = 36

if __name__ == "__main__":
    reap_orphans_here()
    serve(MlflowOps(json.loads(sys.argv[1])))
