"""What the deploy tests look at (several replicas too): unloadable versions, the replica processes
and warm interpreters, OIP requests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
from classifiers import FEATURES

import modelyard
from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_deploy.runtimes.process import INTERPRETER_ENV, INTERPRETER_FILE, MARKER_ENV
from modelyard_deploy.runtimes.process import is_running as alive
from modelyard_serving.launch import WAITING

T = TypeVar("T")

__all__ = ["alive", "environ", "infer", "push_unloadable", "replica_pids", "until", "waiting_interpreters"]

MARKER = f"{MARKER_ENV}=".encode()
INTERPRETER = f"{INTERPRETER_ENV}=".encode()


def push_unloadable(client: modelyard.Client, model: str, directory: Path) -> str:
    """A READY version whose model.skops is not a skops file: a server cannot load it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.skops").write_bytes(b"not a zip archive at all")
    return client.push(model, directory, framework="sklearn", payload_format="skops").reference


def replica_pids(deployment: str) -> dict[str, int]:
    """replica id -> pid of every running replica of ``deployment``."""
    found = {}
    for pid, variables in _processes():
        owner, _, replica = _replica_of(pid, variables).partition("/")
        if owner == deployment and alive(pid):
            found[replica] = pid
    return found


def waiting_interpreters(parent: int) -> list[int]:
    """Pids of the warm interpreters process ``parent`` started that are done importing and wait
    for a replica (their output says so)."""
    return [
        pid
        for pid, variables in _processes()
        if any(v.startswith(INTERPRETER) for v in variables)
        and not _replica_of(pid, variables)
        and _parent(pid) == parent
        and alive(pid)
        and _output(pid).rstrip().endswith(WAITING.encode())
    ]


def environ(pid: int) -> list[bytes]:
    """The NAME=value variables process ``pid`` was started with."""
    return [v for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if v]


def _processes() -> Iterator[tuple[int, list[bytes]]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), environ(int(entry.name))
            except OSError:
                continue


def _replica_of(pid: int, variables: list[bytes]) -> str:
    """``deployment/replica`` of a replica process, else "": the marker in its environment, or for
    a warm interpreter, its id in the folder of the replica whose log is its output."""
    for variable in variables:
        if variable.startswith(MARKER):
            return variable[len(MARKER) :].decode()
        if variable.startswith(INTERPRETER):
            try:
                folder = Path(os.readlink(f"/proc/{pid}/fd/1")).parent
                if (folder / INTERPRETER_FILE).read_bytes() == variable[len(INTERPRETER) :]:
                    return f"{folder.name.rsplit('-', 2)[0]}/{folder.name}"
            except OSError:
                return ""
    return ""


def _output(pid: int) -> bytes:
    try:
        return Path(os.readlink(f"/proc/{pid}/fd/1")).read_bytes()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except OSError:
        return 0


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
