"""The Modelyard side of the side-by-side benchmark: each operation of ``_driver.OPS`` through the
``modelyard`` SDK, run by this repository's virtual environment.

    .venv/bin/python bench/peers/_modelyard_driver.py '{"metadata": "127.0.0.1:P", ...}'

Arguments: one JSON object with the services' addresses (metadata, registry, deploy) and a
folder of its own. Requests on stdin, replies on stdout (see _driver).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import skops.io

import modelyard
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
from modelyard.errors import UnavailableError

PROJECT = "peers"
FILTER = 'tags.team = "vision"'
MARK_SEED = 1
"""Marks this driver's uploads apart from the MLflow driver's."""


class ModelyardOps:
    def __init__(self, config: dict[str, str]) -> None:
        self.client = modelyard.connect(
            config["metadata"], registry=config["registry"], deploy=config["deploy"], actor="bench-peers"
        )
        self.folder = Path(config["folder"])
        self.seeded = 0
        self.served = 0
        self.metrics_ref = ""

    def prepare(self, threads: int) -> dict[str, Any]:
        """The project, a model per create thread, the search models, ``alias@champion`` and the
        version that receives metrics."""
        client = self.client
        client.create_project(PROJECT)
        for name in [f"create-{i}" for i in range(threads)] + [f"search-{i:03d}" for i in range(SEARCH_MODELS)]:
            client.create_model(f"{PROJECT}/{name}")
        client.create_model(f"{PROJECT}/alias")
        client.set_alias(f"{PROJECT}/alias", "champion", client.create_version(f"{PROJECT}/alias").version)
        client.create_model(f"{PROJECT}/metrics")
        self.metrics_ref = client.create_version(f"{PROJECT}/metrics").reference
        return {}

    def create(self, threads: int, seconds: float, warmup: float) -> dict[str, Any]:
        """New versions (PENDING_UPLOAD, no artifact), each thread on its own model."""
        calls = [functools.partial(self.client.create_version, f"{PROJECT}/create-{i}") for i in range(threads)]
        return asdict(timed_threads(calls, seconds, warmup))

    def get_alias(self, threads: int, seconds: float, warmup: float) -> dict[str, Any]:
        call = functools.partial(self.client.get_version, f"{PROJECT}/alias@champion")
        return asdict(timed_threads([call] * threads, seconds, warmup))

    def seed(self, total: int, threads: int) -> dict[str, Any]:
        """Versions up to ``total`` seeded ones, each with its team tag and accuracy: a version,
        then its metric, from ``threads`` threads."""

        def one(index: int) -> None:
            model, team, accuracy = seed_row(index)
            version = self.client.create_version(f"{PROJECT}/search-{model:03d}", tags={"team": team})
            self.client.log_metrics(version.reference, {"accuracy": accuracy})

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(self.seeded, total)))
        self.seeded = max(self.seeded, total)
        return {"seconds": time.perf_counter() - started}

    def search(self, ordered: bool, seconds: float, warmup: float) -> dict[str, Any]:
        """A page of 100 versions of team "vision", newest first or by accuracy, best first."""
        order = "metrics.accuracy DESC" if ordered else ""
        call = functools.partial(self.client.search_page, FILTER, order_by=order, page_size=100)
        timed = timed_threads([call], seconds, warmup)
        page = call()
        first = page.versions[0].metrics["accuracy"] if ordered else None
        return {**asdict(timed), "rows": len(page.versions), "first": first}

    def log_metrics(self, one_call: bool, seconds: float, warmup: float) -> dict[str, Any]:
        """Each call logs the 100 metrics of one version at the next step (``one_call``), or one
        of them, the next in turn, at the next step, as a training loop does."""
        names = metric_names()
        steps = iter(range(1, 1 << 62))

        def batch() -> None:
            step = next(steps)
            self.client.log_metrics(self.metrics_ref, {n: step / 1000 for n in names}, step=step)

        def each() -> None:
            step = next(steps)
            self.client.log_metrics(self.metrics_ref, {names[step % len(names)]: step / 1000}, step=step)

        return asdict(timed_threads([batch if one_call else each], seconds, warmup))

    def transfer(self, path: str, repeat: int) -> dict[str, Any]:
        """Push the file as a new version of ``peers/blob``, then pull it."""
        return transfers(self._round_trip, Path(path), repeat, MARK_SEED)

    def _round_trip(self, path: Path) -> tuple[float, float]:
        os.sync()
        started = time.perf_counter()
        version = self.client.push(f"{PROJECT}/blob", path)
        pushed = time.perf_counter()
        dest = self.folder / f"pull-{version.version}"
        os.sync()
        started_pull = time.perf_counter()
        self.client.pull(version.reference, dest)
        pulled = time.perf_counter()
        if (dest / path.name).stat().st_size != path.stat().st_size:
            raise RuntimeError(f"pull of {version.reference}: {dest / path.name} has not the size pushed")
        shutil.rmtree(dest)
        return pushed - started, pulled - started_pull

    def first_prediction(self, repeat: int) -> dict[str, Any]:
        """From a fitted model in memory: saved with skops, pushed as a new model's version,
        deployed (one replica, the process runtime), predicted until it answers."""
        return first_predictions(self._serve_once, repeat)

    def _serve_once(self, model: Any) -> tuple[float, float, int]:
        self.served += 1
        name = f"served-{self.served}"
        folder = self.folder / name
        folder.mkdir()
        row = sample()
        started = time.perf_counter()
        skops.io.dump(model, folder / "model.skops")
        version = self.client.push(f"{PROJECT}/{name}", folder, framework="sklearn", payload_format="skops")
        registered = time.perf_counter()
        self.client.deploy(name, version.reference)
        outputs = until(lambda: self.client.predict(name, {"input": row}), (UnavailableError,), 120)
        answered = time.perf_counter()
        self.client.delete_deployment(name)
        return answered - started, registered - started, int(outputs["predict"][0])


if __name__ == "__main__":
    serve(ModelyardOps(json.loads(sys.argv[1])))
