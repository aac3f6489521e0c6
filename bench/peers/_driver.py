"""What the two drivers share: the line protocol they answer the benchmark on, and the data every
operation uses, so that both systems see the same versions, metrics, files and model.

Each driver is a process of its own, run by its system's Python (the MLflow driver by the MLflow
virtual environment's, the Modelyard driver by ours), so that each system is driven through its
own SDK only. It imports nothing from either system here: this module, ``bench._load`` and
``bench.artifacts._files`` need only the standard library (and numpy and scikit-learn, which both
environments have, for the served model).

The protocol: the benchmark (``DriverProcess``) writes one JSON object a line on the driver's
stdin, ``{"op": NAME, "args": {...}}``, and the driver (``serve``) writes one a line back,
``{"result": ...}`` or ``{"error": TRACEBACK}``. Anything else the libraries print goes to
stderr (the driver's log).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bench.artifacts._files import MiB, make_file, mark

__all__ = [
    "FEATURES",
    "METRICS",
    "OPS",
    "POLL_SECONDS",
    "SEARCH_MODELS",
    "TEAMS",
    "DriverProcess",
    "first_predictions",
    "fitted_model",
    "metric_names",
    "sample",
    "seed_row",
    "serve",
    "transfers",
    "until",
]

OPS = ("prepare", "create", "get_alias", "seed", "search", "log_metrics", "transfer", "first_prediction")
"""What a driver answers; each is a method of its ops object, with the same arguments in both."""

SEARCH_MODELS = 100
"""The seeded versions are spread over this many models, round robin."""
TEAMS = ("vision", "nlp", "risk", "fraud")
"""Each seeded version's tag ``team``, round robin: the filtered search matches one in four."""
METRICS = 100
"""Metrics logged at once in the log-metrics cases."""
FEATURES = 8
POLL_SECONDS = 0.01


def seed_row(index: int) -> tuple[int, str, float]:
    """The ``index``-th seeded version: its model (of SEARCH_MODELS), its team tag and its
    accuracy, spread over [0, 1) without repeating soon."""
    return index % SEARCH_MODELS, TEAMS[index % len(TEAMS)], (index * 7919 % 10007) / 10007


def metric_names() -> list[str]:
    return [f"metric_{i:03d}" for i in range(METRICS)]


def fitted_model() -> Any:
    """The served model: both systems fit the same LogisticRegression on the same 200 rows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, FEATURES))
    return LogisticRegression().fit(x, (x[:, 0] - x[:, 3] > 0).astype(np.int64))


def sample() -> Any:
    """The one row both first predictions ask about."""
    import numpy as np

    return np.random.default_rng(12).normal(size=(1, FEATURES))


def transfers(round_trip: Callable[[Path], tuple[float, float]], path: Path, repeat: int, seed: int) -> dict[str, Any]:
    """``repeat`` round trips of the file ``path`` (its upload, then its download, each timed), after
    one of a 1 MiB file beside it (not timed). Before each, the file's first bytes change (``seed``
    tells the drivers apart), so that nothing uploaded was seen before."""
    warm = path.with_name(f"warm-{seed}.bin")
    make_file(warm, MiB, seed)
    timings = []
    for count, file in enumerate([warm] + [path] * repeat):
        mark(file, seed, count)
        timings.append(round_trip(file))
    return {"upload_s": [t[0] for t in timings[1:]], "download_s": [t[1] for t in timings[1:]]}


def first_predictions(serve_once: Callable[[Any], tuple[float, float, int]], repeat: int) -> dict[str, Any]:
    """``repeat`` rounds of ``serve_once(fitted_model())``, after one not counted; each returns
    (seconds to the first prediction, seconds to the version registered, the label predicted)."""
    rounds = [serve_once(fitted_model()) for _ in range(repeat + 1)][1:]
    return {
        "seconds": [r[0] for r in rounds],
        "registered_s": [r[1] for r in rounds],
        "labels": [r[2] for r in rounds],
    }


def until(call: Callable[[], Any], retry: tuple[type[BaseException], ...], timeout: float) -> Any:
    """``call()`` again every POLL_SECONDS while it raises one of ``retry``, for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except retry:
            if time.monotonic() > deadline:
                raise
        time.sleep(POLL_SECONDS)


def serve(ops: object, names: Sequence[str] = OPS) -> None:
    """Answers the benchmark's requests on stdin until it closes it."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    # From here on, whatever a library prints (progress bars, banners) goes to the log.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] not in names:
                raise ValueError(f"op: unknown operation {request['op']!r}; one of {', '.join(names)}")
            reply = {"result": getattr(ops, request["op"])(**request.get("args", {}))}
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


class DriverProcess:
    """The benchmark's end of a driver: ``python script CONFIG`` in a session of its own, its
    stderr into ``log``; ``call`` runs one operation and returns its result."""

    def __init__(self, system: str, python: Path, script: Path, config: dict[str, Any], env: dict[str, str], log: Path):
        self.system = system
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(python), str(script), json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                env=env,
                text=True,
                start_new_session=True,
            )

    def call(self, op: str, **args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.system} driver ended (exit {self.process.wait()}); see {self.log}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the {self.system} driver failed in {op}:\n{reply['error']}")
        return reply["result"]

    def close(self) -> None:
        """Closes its stdin, which ends it; kills its session after 30 s."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
