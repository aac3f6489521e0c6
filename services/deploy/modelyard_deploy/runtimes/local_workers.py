"""Predictor workers as local subprocesses: ``python -m modelyard_serving.batch``, one per worker,
speaking ``batch_wire`` over its stdin and stdout.

Each worker gets the ``MLREG_SERVING_*`` environment an inference server gets (its version, where
the platform is, a serving credential for that version alone) and nothing else of this service's
but ``PASSED_ON``. It runs in its own session, is killed by process group when the job is done
with it, and logs to ``worker-N.log`` in the job's folder (the last line says why it exited).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelyard_deploy.runtimes.batch_workers import PredictorWorker, credential_holder, read_frame
from modelyard_deploy.runtimes.process import PASSED_ON, last_log_line
from modelyard_serving.launch import ServingLaunch, ServingTLS

__all__ = ["WORKER_MODULE", "BatchConfig", "LocalWorkers"]

logger = logging.getLogger(__name__)

WORKER_MODULE = "modelyard_serving.batch"
# Issues a worker's serving credential: (job id, version reference) -> bearer secret.
IssueCredential = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """Where workers find the platform and the shared artifact cache; where their logs go (a
    folder per job: the job's own, removed with its parts)."""

    metadata_addr: str
    registry_addr: str
    cache_dir: Path
    log_dir: Path
    tls: ServingTLS = field(default_factory=ServingTLS)


@dataclass(slots=True)
class _Process:
    process: asyncio.subprocess.Process
    log: Path

    @property
    def reader(self) -> asyncio.StreamReader:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def writer(self) -> asyncio.StreamWriter:
        assert self.process.stdin is not None
        return self.process.stdin

    async def ended(self) -> str:
        code = await self.process.wait()
        return f"a predictor worker exited with code {code}: {last_log_line(self.log) or 'no output'}"

    def kill(self) -> None:
        """SIGKILL to its process group (its session: whatever the model started, too)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class LocalWorkers:
    def __init__(self, config: BatchConfig, credential: IssueCredential | None = None) -> None:
        """``credential``: where each worker's serving credential comes from; None: no token."""
        self._config = config
        self._credential = credential

    async def _start(
        self, job: str, reference: str, trusted_types: Sequence[str], number: int, workers: int
    ) -> _Process:
        token = await self._credential(credential_holder(job), reference) if self._credential else None
        launch = ServingLaunch(
            reference=reference,
            model_name=job or "batch",
            trusted_types=tuple(trusted_types),
            metadata_addr=self._config.metadata_addr,
            registry_addr=self._config.registry_addr,
            cache_dir=self._config.cache_dir,
            token=token,
            log_format="console",
            tls=self._config.tls,
        )
        environment = {name: os.environ[name] for name in PASSED_ON if name in os.environ} | launch.environment()
        # The workers share the cores: OpenMP in each (scikit-learn's trees) gets its share,
        # not a thread per core each, which would spin against the others.
        environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        folder = self._config.log_dir / (job or "batch")
        folder.mkdir(parents=True, exist_ok=True)
        self._config.cache_dir.mkdir(parents=True, exist_ok=True)
        log = folder / f"worker-{number}.log"
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=environment,
                start_new_session=True,
                limit=1 << 20,
            )
        logger.info("started a predictor worker", extra={"job": job, "pid": process.pid})
        return _Process(process, log)

    @contextlib.asynccontextmanager
    async def workers(
        self, job: str, reference: str, trusted_types: Sequence[str], count: int
    ) -> AsyncIterator[Sequence[PredictorWorker]]:
        started = await asyncio.gather(
            *(self._start(job, reference, trusted_types, n, count) for n in range(count)), return_exceptions=True
        )
        pool = [w for w in started if isinstance(w, _Process)]
        try:
            failed = next((w for w in started if isinstance(w, BaseException)), None)
            if failed is not None:
                raise failed
            await asyncio.gather(*(read_frame(w, 0) for w in pool))  # each says ready, or why not
            yield pool
        finally:
            for worker in pool:
                worker.kill()
            for worker in pool:
                with contextlib.suppress(ProcessLookupError):
                    await worker.process.wait()
