"""For batch scoring tests: datasets pushed through the real registry, and models that are real
but slow or failing on purpose."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.parquet

import modelyard
from modelyard import Job, ModelKind, Serving, Signature, TensorSpec

__all__ = ["FEATURES", "push_parquet", "push_summer", "table", "until"]

ROWS = 1000
FEATURES = 4
# Sums each row's features, times a factor, after sleeping a while per call; raises, or ends its
# process, when told.
CUSTOM_CODE = """
import json
import os
import time
from pathlib import Path

import numpy as np


class Summer:
    def __init__(self, directory):
        self.config = json.loads((Path(directory) / "config.json").read_text())

    def predict(self, inputs):
        time.sleep(self.config["sleep"])
        if self.config["exit"]:
            os._exit(7)
        if self.config["fail"]:
            raise RuntimeError("the model refuses to score")
        x = inputs["x"]
        return {"total": x.sum(axis=1) * self.config["factor"], "parts": np.stack([x[:, 0], x[:, 1]], axis=1)}
"""
SIGNATURE = Signature(
    inputs=(TensorSpec("x", "FP64", (-1, -1)),),
    outputs=(TensorSpec("total", "FP64", (-1,)), TensorSpec("parts", "FP64", (-1, 2))),
)


def table(rows: int = ROWS) -> pyarrow.Table:
    """``id`` (a key, shuffled) and features ``f0``..``f3``."""
    values = np.random.default_rng(5).normal(size=(rows, FEATURES))
    ids = np.random.default_rng(6).permutation(rows).astype(np.int64) + 10_000
    return pyarrow.table({"id": ids, **{f"f{i}": values[:, i] for i in range(FEATURES)}})


def push_summer(
    client: modelyard.Client,
    model: str,
    directory: Path,
    *,
    sleep: float = 0.0,
    fail: bool = False,
    exit: bool = False,
) -> str:
    """A CUSTOM version whose predict sums the features (times 2), sleeping ``sleep`` s a call."""
    with contextlib.suppress(modelyard.AlreadyExistsError):
        client.create_model(model, kind=ModelKind.CUSTOM)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "predictor.py").write_text(CUSTOM_CODE)
    (directory / "config.json").write_text(json.dumps({"factor": 2.0, "sleep": sleep, "fail": fail, "exit": exit}))
    serving = Serving(entry_point="predictor:Summer")
    return client.push(model, directory, framework="python", signature=SIGNATURE, serving=serving).reference


def push_parquet(client: modelyard.Client, dataset: str, folder: Path, data: pyarrow.Table | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "input.parquet"
    pyarrow.parquet.write_table(data if data is not None else table(), path, row_group_size=300)
    with contextlib.suppress(modelyard.AlreadyExistsError):
        client.create_dataset(dataset)
    return client.push_dataset(dataset, path).reference


def until(read: Callable[[], Job], done: Callable[[Job], bool], timeout: float = 120.0) -> Job:
    """Polls ``read()`` until ``done`` says so, or fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = read()
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job {job.id} is {job.state} ({job.chunks_done} chunks) after {timeout} s"
        time.sleep(0.1)
