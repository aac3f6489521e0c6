"""Load generation: callers that call back-to-back, one at a time or many at once, and the
latency percentiles of what they timed. Every call is timed with ``time.perf_counter``."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AsyncOp", "Timed", "drive", "percentile", "sequential", "threaded", "timed_threads"]

AsyncOp = Callable[[int, int], Awaitable[Any]]
"""One call: (worker index, call index within that worker) -> anything."""


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0.5 for p50), NaN of nothing."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def drive(op: AsyncOp, inflight: int, seconds: float, done: list[tuple[float, float]] | None) -> int:
    """Runs ``inflight`` coroutines calling ``op`` back-to-back until ``seconds`` have passed.

    Appends (completion time, latency in s) of every call to ``done``; calls still running at the
    deadline are let finish, so the last ones complete a little after it. Returns the calls made.
    """
    clock = time.perf_counter
    deadline = clock() + seconds

    async def worker(w: int) -> int:
        i = 0
        while clock() < deadline:
            started = clock()
            await op(w, i)
            ended = clock()
            if done is not None:
                done.append((ended, ended - started))
            i += 1
        return i

    return sum(await asyncio.gather(*(worker(w) for w in range(inflight))))


def sequential(call: Callable[[], object], n: int) -> list[float]:
    """Latencies in ms of ``n`` calls made one after the other."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass
class Timed:
    """What ``timed_threads`` measured."""

    latencies_ms: list[float]
    """Every call started in the window, the last ones ending after it."""
    completed: int
    """The calls that ended within the window: completed / seconds is the throughput."""
    made: int = 0
    """Every call made, the warm-up's included: what the CPU of the whole run went into."""


def timed_threads(calls: Sequence[Callable[[], object]], seconds: float, warmup: float = 0.0) -> Timed:
    """One thread per entry of ``calls`` calls its own back-to-back, first for ``warmup`` seconds
    (not timed), then for a window of ``seconds``. A call that raises ends its thread, and the
    first such error is raised here."""
    clock = time.perf_counter
    start = threading.Barrier(len(calls) + 1)
    window: list[float] = []  # [start, end], set before the threads are released
    timed = Timed([], 0)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(call: Callable[[], object]) -> None:
        start.wait()
        began, ends = window
        mine: list[tuple[float, float]] = []  # (started, ended)
        warm = 0
        try:
            while clock() < began:
                call()
                warm += 1
            while (started := clock()) < ends:
                call()
                mine.append((started, clock()))
        except BaseException as exc:
            errors.append(exc)
        with lock:
            timed.latencies_ms += [(ended - started) * 1000 for started, ended in mine]
            timed.completed += sum(1 for _, ended in mine if ended <= ends)
            timed.made += warm + len(mine)

    workers = [threading.Thread(target=work, args=(call,), daemon=True) for call in calls]
    for worker in workers:
        worker.start()
    now = clock()
    window.extend([now + warmup, now + warmup + seconds])
    start.wait()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return timed


def threaded(call: Callable[[], object], threads: int, seconds: float) -> float:
    """Calls per second from ``threads`` threads calling back-to-back for ``seconds``."""
    return timed_threads([call] * threads, seconds).completed / seconds
