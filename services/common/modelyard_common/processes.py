"""Several processes of one service on one port, for a machine with more cores than one process uses.

A service process runs Python on one core at a time. With ``processes`` above 1, the first
process binds its gRPC (and health) port with SO_REUSEPORT and starts ``processes - 1`` copies of
itself, the same command with the same settings but the ports it bound, so the kernel spreads
new connections over all of them. Each copy has a metrics port of its own (the ones after a fixed
``metrics_port``, or free ones), so that each /metrics tells the truth about its own process:
Prometheus scrapes each as a target. A copy writes its ready file beside the first's, and the
first writes its own once every copy has, so "ready" means every process serves.

Copies stop with the first: its SIGTERM is passed on and waited for; should it die without that
(SIGKILL), each copy sees that its parent is gone and stops too. Should a copy end on its own,
the first stops with an error, so that a supervisor sees the failure and restarts the whole service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from modelyard_common.settings import ServiceSettings

__all__ = ["Copies", "ProcessSettings", "reuse_port", "watch_parent"]

logger = logging.getLogger(__name__)

_PARENT_POLL_SECONDS = 1.0


class ProcessSettings(ServiceSettings):
    """Settings of a service that may run several processes on one port."""

    processes: int = Field(1, ge=1, le=64)
    """Processes serving the one gRPC port (SO_REUSEPORT), up to about the cores the service may
    use; each has its own metrics port (docs/metadata.md)."""
    parent_pid: int | None = Field(None, ge=1)
    """Set by the first process on the copies it starts (not by hand): a copy stops when it is gone."""

    @model_validator(mode="after")
    def _copies_start_no_copies(self) -> Self:
        if self.parent_pid is not None and self.processes != 1:
            raise ValueError("processes: a copy (parent_pid set) runs alone; set processes on the first only")
        return self


def reuse_port(settings: ServiceSettings) -> bool:
    """Whether this process shares its ports: only then, so that two unrelated servers never
    bind one port by mistake."""
    return isinstance(settings, ProcessSettings) and (settings.processes > 1 or settings.parent_pid is not None)


def watch_parent(settings: ServiceSettings, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """In a copy, a task that sets ``stop`` once the first process is gone; None elsewhere."""
    if not isinstance(settings, ProcessSettings) or settings.parent_pid is None:
        return None
    parent = settings.parent_pid

    async def watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(_PARENT_POLL_SECONDS)
        logger.warning("first process gone: stopping", extra={"parent_pid": parent})
        stop.set()

    return asyncio.create_task(watch())


class Copies:
    """The copies a first process starts, watches and stops."""

    def __init__(self, settings: ServiceSettings, ports: dict[str, int], stop: asyncio.Event) -> None:
        self._settings = settings
        self._ports = ports
        self._stop = stop
        self._children: list[asyncio.subprocess.Process] = []
        self._watchers: list[asyncio.Task[None]] = []
        self._ended: list[str] = []
        self.ready_files: list[Path] = []

    def __len__(self) -> int:
        return self._settings.processes - 1 if isinstance(self._settings, ProcessSettings) else 0

    async def start(self) -> None:
        """Starts the copies: this command again, with our bound ports and a metrics port each."""
        prefix = str(type(self._settings).model_config.get("env_prefix", ""))
        for index in range(1, len(self) + 1):
            metrics_port = self._settings.metrics_port + index if self._settings.metrics_port else 0
            env = {
                **os.environ,
                f"{prefix}PORT": str(self._ports["grpc_port"]),
                f"{prefix}METRICS_PORT": str(metrics_port),
                f"{prefix}PROCESSES": "1",
                f"{prefix}PARENT_PID": str(os.getpid()),
            }
            if "health_port" in self._ports:
                env[f"{prefix}HEALTH_PORT"] = str(self._ports["health_port"])
            ready_file = self._settings.ready_file
            if ready_file is not None:
                ready_file = ready_file.with_name(f"{ready_file.stem}.{index}{ready_file.suffix}")
                ready_file.unlink(missing_ok=True)
                env[f"{prefix}READY_FILE"] = str(ready_file)
                self.ready_files.append(ready_file)
            # The command that started us (python -m ..., or a console script) starts the copy.
            child = await asyncio.create_subprocess_exec(sys.executable, *sys.orig_argv[1:], env=env)
            self._children.append(child)
            self._watchers.append(asyncio.create_task(self._watch(child)))
        logger.info("copies started", extra={"pids": [child.pid for child in self._children]})

    async def ready(self) -> bool:
        """Waits until every copy has written its ready file: False if we are stopping first."""
        while not all(path.exists() for path in self.ready_files):
            if self._stop.is_set():
                return False
            await asyncio.sleep(0.05)
        return True

    async def _watch(self, child: asyncio.subprocess.Process) -> None:
        code = await child.wait()
        if not self._stop.is_set():
            logger.error("a copy ended: stopping", extra={"pid": child.pid, "returncode": code})
            self._ended.append(f"pid {child.pid} exited with {code}")
            self._stop.set()

    def signal_stop(self) -> None:
        """Asks every copy to drain and stop (as we do), so that they drain alongside us."""
        for child in self._children:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    async def stopped(self) -> None:
        """Waits for every copy to end: killed (by pid) if it outlasts its grace period."""
        for child in self._children:
            try:
                await asyncio.wait_for(child.wait(), self._settings.shutdown_grace_seconds + 5)
            except TimeoutError:
                logger.error("a copy outlasted its grace period: killed", extra={"pid": child.pid})
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        for watcher in self._watchers:
            watcher.cancel()

    def check(self) -> None:
        """Raises if a copy ended on its own, so that this process exits with an error too."""
        if self._ended:
            raise RuntimeError(f"a copy of this service ended before it was asked to: {'; '.join(self._ended)}")
