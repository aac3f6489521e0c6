"""Load generation: callers that call back-to-back, one at a time or many at once, and the
latency percentiles of what they timed. Every call is timed with ``time.perf_counter``."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["AsyncOp", "drive", "percentile", "sequential", "threaded"]

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


def threaded(call: Callable[[], object], threads: int, seconds: float) -> float:
    """Calls per second from ``threads`` threads calling back-to-back for ``seconds``."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(index: int) -> None:
        start.wait()
        while not stop.is_set():
            call()
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - began)
