"""The leader runs batch scoring jobs: each unfinished job is picked up (a RUNNING one left by a
leader that died is resumed: its recorded chunks whose parts are present are skipped), streamed
through predictor workers, written part by part, then registered as one output version.

A job being cancelled has its run stopped (which kills its workers) and its parts removed; once
every chunk is scored and merged, the job begins registering its output and is no longer
cancelled (``JobStore.begin_publish``: a cancel is recorded before that, or refused). A
worker's failure, or the model's, fails the job with its message. Every final state goes
through ``_finish``, which logs it and counts it (and is where a platform event would go).

A leader that died between finishing a job and removing its folder left that folder behind: the
runner removes the folders of finished (or unknown) jobs as it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from modelyard_common.errors import BackendUnavailableError, ModelyardError
from modelyard_deploy.domain.job_entities import Job, JobState
from modelyard_deploy.domain.job_ports import JobCatalog, JobFolders, JobOutput, JobStore, Predictions, WorkerError

__all__ = ["JobObserver", "JobRunner"]

logger = logging.getLogger(__name__)

# A job's id (Jobs.create: a UUID's hex): the folders named so are jobs'; the others (scoring
# runs' workers) are not the job runner's.
_JOB_ID = re.compile(r"[0-9a-f]{32}")


class JobObserver(Protocol):
    def chunk(self, rows: int, seconds: float) -> None: ...
    def finished(self, job: Job) -> None: ...


class _Cancelled(Exception):
    pass


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        catalog: JobCatalog,
        predictions: Predictions,
        output: Callable[[str], JobOutput],
        folders: JobFolders,
        observer: JobObserver,
        max_running: int,
        poll_seconds: float,
    ) -> None:
        self._store, self._catalog, self._predictions = store, catalog, predictions
        self._output, self._folders, self._observer = output, folders, observer
        self._max_running, self._poll = max_running, poll_seconds
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run_forever(self) -> None:
        """Starts the unfinished jobs (up to ``max_running`` at once) every ``poll_seconds``;
        cancelling it stops every job's run (they stay RUNNING, for the next leader)."""
        await self._sweep()
        try:
            while True:
                try:
                    unfinished = await self._store.unfinished()
                except BackendUnavailableError as exc:
                    logger.warning("cannot look for jobs to run; trying again: %s", exc.message)
                    unfinished = []
                for job in unfinished:
                    if job.id not in self._running and len(self._running) < self._max_running:
                        task = asyncio.create_task(self._run(job))
                        self._running[job.id] = task
                        task.add_done_callback(self._forget)
                await asyncio.sleep(self._poll)
        finally:
            for task in list(self._running.values()):
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _sweep(self) -> None:
        """Removes the folders of the jobs that are finished or unknown (a job's folder goes once
        it is finished: one left is a dead leader's); a running job's are kept, to resume it."""
        names = [name for name in await asyncio.to_thread(self._folders.names) if _JOB_ID.fullmatch(name)]
        if not names:
            return
        try:
            states = await self._store.states(names)
        except BackendUnavailableError as exc:
            logger.warning("cannot tell which job folders are left over; keeping them: %s", exc.message)
            return
        for name in names:
            if name not in states or states[name].finished:
                await asyncio.to_thread(self._folders.remove, name)
                logger.info("removed the folder of job %s, which is %s", name, states.get(name, "unknown"))

    def _forget(self, task: asyncio.Task[None]) -> None:
        for job_id, running in list(self._running.items()):
            if running is task:
                del self._running[job_id]

    async def _run(self, job: Job) -> None:
        output = self._output(job.id)
        try:
            if job.state is not JobState.CANCELLING:
                await self._score(await self._store.start(job.id), output)
                return
        except _Cancelled:
            pass
        except WorkerError as exc:
            await self._finish(job, output, JobState.FAILED, error=str(exc))
            return
        except BackendUnavailableError as exc:
            logger.warning("job %s paused, to be retried: %s", job.id, exc.message)
            return
        except ModelyardError as exc:
            await self._finish(job, output, JobState.FAILED, error=exc.message)
            return
        except Exception as exc:
            logger.exception("job %s failed", job.id)
            await self._finish(job, output, JobState.FAILED, error=f"internal error: {exc!r}")
            return
        await self._finish(job, output, JobState.CANCELLED)

    async def _score(self, job: Job, output: JobOutput) -> None:
        """Scores the chunks not done yet, then registers the output; _Cancelled once the job
        is CANCELLING."""
        recorded = await self._store.chunks(job.id)
        done = await asyncio.to_thread(output.present, recorded)
        if lost := set(recorded) - done:
            await self._store.forget_chunks(job.id, lost)
        if done:
            logger.info("resuming job %s: %d of %d chunks done", job.id, len(done), job.chunks_total)
        clock = time.perf_counter()
        phases: dict[str, float] = {}
        if len(done) < job.chunks_total:
            dataset = await self._catalog.dataset_version(job.input_dataset)
            path = await self._catalog.download(dataset)
            phases["download"], clock = time.perf_counter() - clock, time.perf_counter()
            scoring = asyncio.ensure_future(self._chunks(job, output, path, done, dict(dataset.columns)))
            watching = asyncio.ensure_future(self._until_cancelled(job.id))
            try:
                await asyncio.wait({scoring, watching}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                watching.cancel()
                if not scoring.done():
                    scoring.cancel()  # its workers are killed as it ends
                    with contextlib.suppress(asyncio.CancelledError):
                        await scoring
            if scoring.cancelled():
                watching.result()  # what stopped the watch, if it failed
                raise _Cancelled
            scoring.result()
            phases["scoring"], clock = time.perf_counter() - clock, time.perf_counter()
        if (await self._store.get(job.id)).state is JobState.CANCELLING:
            raise _Cancelled
        merged = await asyncio.to_thread(output.merge, job.chunks_total)
        phases["merge"], clock = time.perf_counter() - clock, time.perf_counter()
        if not await self._store.begin_publish(job.id):  # cancelled while merging
            raise _Cancelled
        version = await self._catalog.publish(job, merged)
        phases["publish"] = time.perf_counter() - clock
        logger.info(
            "job %s scored: %s", job.id, ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
        )
        await self._finish(job, output, JobState.SUCCEEDED, output_version=version)

    async def _chunks(self, job: Job, output: JobOutput, path: Path, done: set[int], types: dict[str, str]) -> None:
        started = time.perf_counter()
        scored = self._predictions.predict_chunks(
            job.version_reference,
            path,
            {i.name: i.columns for i in job.inputs},
            job.chunk_rows,
            job.workers,
            [job.key_column],
            dtypes=dict(zip((i.name for i in job.inputs), job.input_dtypes, strict=True)),
            column_types={job.key_column: types.get(job.key_column, "string")},
            trusted_types=job.trusted_types,
            skip=done,
            job=job.id,
        )
        async with contextlib.aclosing(scored):  # its workers stop here, whatever ends the loop
            async for chunk in scored:
                try:
                    await asyncio.to_thread(output.write, chunk.index, chunk.columns, chunk.outputs)
                except ValueError as exc:
                    raise WorkerError(str(exc)) from None
                await self._store.record_chunk(job.id, chunk.index, chunk.rows)
                now = time.perf_counter()
                self._observer.chunk(chunk.rows, now - started)
                started = now

    async def _until_cancelled(self, job_id: str) -> None:
        while (await self._store.get(job_id)).state is not JobState.CANCELLING:
            await asyncio.sleep(self._poll)

    async def _finish(
        self, job: Job, output: JobOutput, state: JobState, output_version: str = "", error: str = ""
    ) -> None:
        """The one place a job reaches its final state: recorded, its parts removed, logged, counted."""
        finished = await self._store.finish(job.id, state, output_version, error)
        await asyncio.to_thread(output.remove)
        log = logger.warning if state is JobState.FAILED else logger.info
        log(
            "job %s %s%s",
            job.id,
            state.value,
            f": {error}" if error else (f": {output_version}" if output_version else ""),
            extra={"job": job.id, "project": job.project, "state": state.value, "rows": finished.rows_done},
        )
        self._observer.finished(finished)
