"""What the deploy tests look at (several replicas too): unloadable versions, the replica processes, OIP requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
from classifiers import FEATURES

import modelyard
from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_deploy.runtimes.process import MARKER_ENV
from modelyard_deploy.runtimes.process import is_running as alive

T = TypeVar("T")

__all__ = ["alive", "infer", "push_unloadable", "replica_pids", "until"]

MARKER = f"{MARKER_ENV}=".encode()


def push_unloadable(client: modelyard.Client, model: str, directory: Path) -> str:
    """A READY version whose model.skops is not a skops file: a server cannot load it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.skops").write_bytes(b"not a zip archive at all")
    return client.push(model, directory, framework="sklearn", payload_format="skops").reference


def replica_pids(deployment: str) -> dict[str, int]:
    """replica id -> pid of every process marked as a replica of ``deployment``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(MARKER):
                owner, _, replica = variable[len(MARKER) :].decode().partition("/")
                if owner == deployment and alive(int(entry.name)):
                    found[replica] = int(entry.name)
    return found


def infer(endpoint: str, model_name: str, rows: np.ndarray = FEATURES[:3]) -> inference_pb2.ModelInferResponse:
    """One OIP ModelInfer request to ``endpoint``, as any OIP client sends it."""
    x = rows.astype(np.float64)
    request = inference_pb2.ModelInferRequest(
        model_name=model_name,
        inputs=[
            inference_pb2.ModelInferRequest.InferInputTensor(
                name="input",
                datatype="FP64",
                shape=x.shape,
                contents=inference_pb2.InferTensorContents(fp64_contents=x.ravel().tolist()),
            )
        ],
    )
    with grpc.insecure_channel(endpoint) as channel:
        return inference_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)


def until(condition: Callable[[], T], what: str, timeout: float = 120.0) -> T:
    """Polls ``condition`` until it answers something true, and returns that answer; fails after
    ``timeout`` seconds, quoting its last answer."""
    deadline = time.monotonic() + timeout
    while not (answer := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:g} s (last: {answer!r})")
        time.sleep(0.1)
    return answer
