"""The leader runs scoring tests: it claims the runs the metadata service queued (on request, on
schedule, on a new READY version or an alias moved), scores each version on its dataset through
predictor workers (the batch scoring engine, so through the inference server's loader, with a
serving credential for that version only), computes the metrics here from the labels, which the
workers never see, and records the result (the metadata service applies the thresholds).

A run is leased: if this service dies mid-run, the lease runs out and the next leader scores it
again; a result recorded after the lease passed to another runner is refused, not applied. The
workers' folder of a run it died in is removed by the next runner to start, once that run is no
longer running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import modelyard
from modelyard import InvalidArgumentError, ModelyardError, NotFoundError
from modelyard.internal import ClaimedScoringRun, InternalCalls
from modelyard_deploy.domain.job_ports import Predictions, WorkerError
from modelyard_deploy.scoring.metrics import ScoreError, ScoreSpec, compute_metrics
from modelyard_deploy.storage.job_catalog import PlatformJobCatalog

__all__ = ["ScoringRunner"]

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
_PREFIX = "scoring-"


class ScoringRunner:
    def __init__(
        self,
        client: modelyard.AsyncClient,
        catalog: PlatformJobCatalog,
        predictions: Predictions,
        poll_seconds: float,
        lease_seconds: float,
        log_dir: Path,
    ) -> None:
        """``log_dir``: where the predictor workers of a run keep their logs (``scoring-RUN``),
        removed once its result is recorded (an error quotes the last line)."""
        self._client, self._calls = client, InternalCalls(client)
        self._logs = log_dir
        self._catalog, self._predictions = catalog, predictions
        self._poll, self._lease = poll_seconds, lease_seconds
        self._runner = f"{socket.gethostname()}-{os.getpid()}"

    async def run_forever(self) -> None:
        """Claims one run at a time (a run is leased only while it is scored) and scores it; waits
        ``poll_seconds`` when there is none (or the metadata service does not answer)."""
        await self._sweep()
        while True:
            try:
                claimed = await self._calls.claim_scoring_runs(self._runner, 1, self._lease)
            except ModelyardError as exc:
                logger.warning("cannot claim scoring runs; trying again: %s", exc.message)
                claimed = []
            for run in claimed:
                await self._run(run)
            if not claimed:
                await asyncio.sleep(self._poll)

    async def _sweep(self) -> None:
        """Removes the workers' folders of the runs no longer running (finished, or unknown)."""
        folders = await asyncio.to_thread(lambda: sorted(self._logs.glob(f"{_PREFIX}*")))
        for folder in folders:
            try:
                running = not (await self._client.get_scoring_run(folder.name.removeprefix(_PREFIX))).state.finished
            except (NotFoundError, InvalidArgumentError):
                running = False
            except ModelyardError as exc:
                logger.warning("cannot tell which scoring runs' folders are left over; keeping them: %s", exc.message)
                return
            if not running:
                await asyncio.to_thread(shutil.rmtree, folder, True)
                logger.info("removed %s, left by a runner that stopped", folder.name)

    async def _run(self, claimed: ClaimedScoringRun) -> None:
        run = claimed.run
        started = time.perf_counter()
        metrics: dict[str, Any] = {}
        rows, error = 0, ""
        try:
            metrics, rows = await self._score(claimed)
        except (ScoreError, WorkerError) as exc:
            error = str(exc)
        except ModelyardError as exc:
            error = exc.message
        except Exception as exc:
            logger.exception("scoring run %s failed", run.id)
            error = f"internal error: {exc!r}"
        seconds = time.perf_counter() - started
        await asyncio.to_thread(shutil.rmtree, self._logs / _job_name(run.id), True)
        try:
            recorded = await self._calls.record_scoring_result(
                run.id, self._runner, claimed.attempt, metrics=metrics, rows=rows, duration_seconds=seconds, error=error
            )
        except ModelyardError as exc:
            logger.warning("the result of scoring run %s was not recorded: %s", run.id, exc.message)
            return
        logger.info(
            "scoring run %s of %s on %s: %s%s",
            run.id,
            run.model_version,
            run.dataset,
            recorded.state,
            f" ({recorded.message})" if recorded.message else "",
            extra={"run": run.id, "test": run.test_id, "rows": rows, "seconds": round(seconds, 3)},
        )

    async def _score(self, claimed: ClaimedScoringRun) -> tuple[dict[str, Any], int]:
        run, definition = claimed.run, claimed.definition
        version = await self._catalog.model_version(run.model_version)
        dataset = await self._catalog.dataset_version(run.dataset)
        path = await self._catalog.download(dataset)
        labels: list[np.ndarray[Any, Any]] = []
        predicted: list[np.ndarray[Any, Any]] = []
        probabilities: list[np.ndarray[Any, Any]] = []
        scored = self._predictions.predict_chunks(
            run.model_version,
            path,
            {i.input: i.columns for i in definition.inputs},
            CHUNK_ROWS,
            1,
            [definition.label_column],
            dtypes={t.name: t.datatype for t in version.inputs},
            column_types={definition.label_column: dict(dataset.columns).get(definition.label_column, "string")},
            trusted_types=claimed.trusted_types,
            job=_job_name(run.id),
        )
        async with contextlib.aclosing(scored):
            async for chunk in scored:
                labels.append(chunk.columns[definition.label_column].to_numpy(zero_copy_only=False))
                predicted.append(_output(chunk.outputs, "prediction_output", definition.prediction_output))
                if definition.probability_output:
                    probabilities.append(_output(chunk.outputs, "probability_output", definition.probability_output))
        if not labels:
            raise ScoreError(f"{run.dataset} has no rows to score")
        spec = ScoreSpec(definition.task, definition.metrics, definition.average, definition.positive_label)
        metrics = await asyncio.to_thread(
            compute_metrics,
            spec,
            np.concatenate(labels),
            np.concatenate(predicted),
            np.concatenate(probabilities) if probabilities else None,
        )
        return metrics, int(sum(len(chunk) for chunk in labels))


def _job_name(run_id: str) -> str:
    """What the engine names a run's workers (and their log folder) by."""
    return f"{_PREFIX}{run_id}"


def _output(outputs: Mapping[str, np.ndarray[Any, Any]], field: str, name: str) -> np.ndarray[Any, Any]:
    """The output ``name`` (empty: the model's only one), or ScoreError naming those it has."""
    if not name and len(outputs) == 1:
        return next(iter(outputs.values()))
    if not name:
        raise ScoreError(f"the model has outputs {', '.join(sorted(outputs))}: set the definition's {field} to one")
    if name not in outputs:
        raise ScoreError(f"{field} {name!r} is not an output of the model ({', '.join(sorted(outputs))})")
    return outputs[name]
