"""The process runtime: each replica is a local ``python -m modelyard_serving`` subprocess.

A replica runs in its own session (a signal meant for the deploy service does not reach it),
binds free loopback ports and writes them to its ready file as soon as it listens; it is READY
once its gRPC health ("") says SERVING, FAILED when it exits (the last line of its log says
why). Stopping sends SIGTERM, then SIGKILL after the grace period, by process id. With a
``WarmPool``, a replica is a waiting interpreter of the pool when one can take it (warm_pool.py),
a new process otherwise. A new process carries ``MLREG_DEPLOY_REPLICA=<deployment>/<replica>``
in its environment, which is how a later run of the service recognises the ones left behind; an
interpreter's environment was fixed before it had a replica, so its id (``INTERPRETER_ENV``) is
written into the replica's folder instead, and a process whose environment holds that id is that
replica. With ``scrape_targets_file`` set, the metrics ports of the running replicas are kept in
that file in Prometheus' file_sd format.

Model code is untrusted: a replica's environment holds only what serving needs (``PASSED_ON``
of this service's own, none of its settings or tokens, and its ``ServingLaunch``) with a serving
credential issued for that replica's version alone. It still runs as this service's OS user, so
it can read what that user can: the service says so when it starts, and docs/security.md says
this runtime is for trusted model code only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelyard_common.values import ReplicaState
from modelyard_deploy.domain.ports import Observation, ReplicaSpec
from modelyard_serving.launch import MODULE, ServingLaunch, ServingTLS

if TYPE_CHECKING:
    from modelyard_deploy.runtimes.warm_pool import WarmPool

__all__ = [
    "INTERPRETER_ENV",
    "INTERPRETER_FILE",
    "MARKER_ENV",
    "PASSED_ON",
    "ProcessRuntime",
    "ServingConfig",
    "is_running",
    "last_log_line",
    "passed_on",
    "start_server",
]

logger = logging.getLogger(__name__)

MARKER_ENV = "MLREG_DEPLOY_REPLICA"
INTERPRETER_ENV = "MLREG_DEPLOY_INTERPRETER"
INTERPRETER_FILE = "interpreter"
"""In a replica's folder: the id of the warm interpreter that became the replica."""
_POLL_SECONDS = 0.2
_LOG_TAIL_BYTES = 8192
# What a replica gets of this service's environment: where programs and libraries are, the
# locale, the time zone, temporary files, and thread counts of numerical libraries.
PASSED_ON = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
)  # fmt: skip
# Issues a serving credential for a replica: (deployment, version reference) -> bearer secret.
IssueCredential = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ServingConfig:
    """What every inference server is told: where metadata and registry are, the shared cache,
    the TLS files (``ServingTLS.like`` this service's own)."""

    metadata_addr: str
    registry_addr: str
    cache_dir: Path
    run_dir: Path
    stop_grace: float
    scrape_targets_file: Path | None = None
    tls: ServingTLS = field(default_factory=ServingTLS)


@dataclass(slots=True)
class _Replica:
    spec: ReplicaSpec
    process: asyncio.subprocess.Process
    directory: Path
    endpoint: str = ""
    metrics: str = ""
    health: str = ""
    state: ReplicaState = ReplicaState.STARTING
    message: str = ""
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


async def start_server(
    environment: dict[str, str], log: Path, *arguments: str, stdin: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """``python -m modelyard_serving [arguments]`` in a session of its own, with exactly
    ``environment``, its output appended to ``log``."""
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            MODULE,
            *arguments,
            stdin=stdin,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )


def passed_on() -> dict[str, str]:
    """The ``PASSED_ON`` variables this service has."""
    return {name: os.environ[name] for name in PASSED_ON if name in os.environ}


def last_log_line(path: Path) -> str:
    """The last non-empty line of a replica's log: why it exited."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


class ProcessRuntime:
    def __init__(
        self, config: ServingConfig, credential: IssueCredential | None = None, pool: WarmPool | None = None
    ) -> None:
        """``credential``: where each replica's serving credential comes from; None: no token.
        ``pool``: the warm interpreters replicas start from when one waits; None: always new ones."""
        self._config = config
        self._credential = credential
        self._pool = pool
        self._replicas: dict[str, _Replica] = {}
        self._stopping: dict[str, asyncio.Task[None]] = {}
        self._on_change: Callable[[str], None] = lambda name: None

    def set_listener(self, on_change: Callable[[str], None]) -> None:
        self._on_change = on_change

    def _environment(self, spec: ReplicaSpec, ready_file: Path, token: str | None) -> dict[str, str]:
        launch = ServingLaunch(
            reference=spec.version_reference,
            model_name=spec.deployment,
            trusted_types=spec.trusted_types,
            metadata_addr=self._config.metadata_addr,
            registry_addr=self._config.registry_addr,
            cache_dir=self._config.cache_dir,
            token=token,
            ready_file=ready_file,
            host="127.0.0.1",
            port=0,
            metrics_port=0,
            log_format="console",
            tls=self._config.tls,
        )
        return {
            **passed_on(),
            **launch.environment(),
            MARKER_ENV: f"{spec.deployment}/{spec.replica_id}",
        }

    async def start(self, spec: ReplicaSpec) -> int:
        directory = self._config.run_dir / spec.replica_id
        directory.mkdir(parents=True, exist_ok=True)
        self._config.cache_dir.mkdir(parents=True, exist_ok=True)
        ready_file = directory / "ready.json"
        ready_file.unlink(missing_ok=True)  # a restart's: the log goes on, the ports are new
        token = await self._credential(spec.deployment, spec.version_reference) if self._credential else None
        environment = self._environment(spec, ready_file, token)
        log = directory / "replica.log"
        process = await self._from_pool(environment, log, directory)
        warm = process is not None
        if process is None:
            process = await start_server(environment, log)
        replica = _Replica(spec, process, directory)
        replica.watcher = asyncio.create_task(self._watch(replica))
        self._replicas[spec.replica_id] = replica
        logger.info("started a replica", extra={"replica": spec.replica_id, "pid": process.pid, "warm": warm})
        return process.pid

    async def _from_pool(
        self, environment: dict[str, str], log: Path, directory: Path
    ) -> asyncio.subprocess.Process | None:
        """A waiting interpreter made the replica, when the pool had one that could take it."""
        interpreter = await self._pool.assign(environment, log) if self._pool else None
        if interpreter is None:
            return None
        (directory / INTERPRETER_FILE).write_text(interpreter.id)
        return interpreter.process

    def observe(self, replica_id: str) -> Observation | None:
        replica = self._replicas.get(replica_id)
        if replica is None:
            return None
        return Observation(replica.state, replica.endpoint, replica.message)

    async def _watch(self, replica: _Replica) -> None:
        """Follows one replica: its port, its health until SERVING, then its exit."""
        exited = asyncio.ensure_future(replica.process.wait())
        try:
            ready = asyncio.ensure_future(self._until_ready(replica))
            await asyncio.wait({exited, ready}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if not exited.done():
                replica.state = ReplicaState.READY
                self._on_change(replica.spec.deployment)
                await exited
            code = exited.result()
            reason = last_log_line(replica.directory / "replica.log") or "no output"
            replica.state, replica.message = ReplicaState.FAILED, f"exited with code {code}: {reason}"
            self._publish_targets()
            self._on_change(replica.spec.deployment)
        finally:
            exited.cancel()

    async def _until_ready(self, replica: _Replica) -> None:
        ready_file = replica.directory / "ready.json"
        while not replica.endpoint:
            with contextlib.suppress(OSError, ValueError, KeyError):
                ports = json.loads(ready_file.read_text())
                replica.metrics = f"127.0.0.1:{ports['metrics_port']}"
                # Under TLS, health is read on the plaintext health port (the same answers).
                replica.health = f"127.0.0.1:{ports.get('health_port', ports['grpc_port'])}"
                replica.endpoint = f"127.0.0.1:{ports['grpc_port']}"
            if not replica.endpoint:
                await asyncio.sleep(_POLL_SECONDS)
        self._publish_targets()
        async with grpc.aio.insecure_channel(replica.health) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                with contextlib.suppress(grpc.RpcError):
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(_POLL_SECONDS)

    async def stop(self, replica_id: str) -> None:
        """Returns once the replica's process is gone, also when another call is stopping it."""
        replica = self._replicas.pop(replica_id, None)
        if replica is not None:
            self._publish_targets()
            self._stopping[replica_id] = asyncio.create_task(self._terminate(replica))
        task = self._stopping.get(replica_id)
        if task is None:
            return
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._stopping.pop(replica_id, None)

    def _publish_targets(self) -> None:
        """Rewrites the scrape targets file (atomically) with the replicas that are running."""
        path = self._config.scrape_targets_file
        if path is None:
            return
        targets = [
            {"targets": [r.metrics], "labels": {"deployment": r.spec.deployment, "replica": r.spec.replica_id}}
            for r in self._replicas.values()
            if r.metrics and r.state is not ReplicaState.FAILED
        ]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(json.dumps(targets, indent=1))
            temporary.replace(path)
        except OSError as exc:
            logger.warning("cannot write the scrape targets file %s: %s", path, exc)

    async def _terminate(self, replica: _Replica) -> None:
        if replica.watcher is not None:
            replica.watcher.cancel()
        process = replica.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._config.stop_grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        logger.info("stopped a replica", extra={"replica": replica.spec.replica_id, "code": process.returncode})
        shutil.rmtree(replica.directory, ignore_errors=True)

    async def stop_leftover(self, pid: int, deployment: str, replica_id: str) -> bool:
        directory = self._config.run_dir / replica_id
        if replica_id in self._replicas or not _is_replica(pid, f"{deployment}/{replica_id}", directory):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.stop_grace
        while is_running(pid) and loop.time() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        if is_running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(replica_id) for replica_id in {*self._replicas, *self._stopping}))


def _is_replica(pid: int, marker: str, directory: Path) -> bool:
    """Whether process ``pid`` is the replica ``marker`` names: its environment says so, or holds
    the id of the warm interpreter that became that replica, which the replica's folder names:
    ``directory``, or the folder of the log its output goes to (a run with another ``run_dir``)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    if f"{MARKER_ENV}={marker}".encode() in environ:
        return True
    folders = [directory]
    with contextlib.suppress(OSError):
        folders.append(Path(os.readlink(f"/proc/{pid}/fd/1")).parent)
    for folder in folders:
        with contextlib.suppress(OSError):
            interpreter = (folder / INTERPRETER_FILE).read_text()
            if folder.name == directory.name and f"{INTERPRETER_ENV}={interpreter}".encode() in environ:
                return True
    return False


def is_running(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie: a leftover's parent is gone, so init reaps it)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"
