"""Cases every benchmark of a service runs alike: N coroutines calling back-to-back, a warm-up
then one measured window, each call timed and the CPU of every party read around the window."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench._cpu import CpuMeter
from bench._load import AsyncOp, drive, percentile
from bench._machine import other_load_cell

__all__ = ["Cases", "Result"]


@dataclass
class Result:
    case: str
    server: str
    inflight: int
    channel: str
    ops: int
    elapsed: float
    latencies: list[float] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)
    """ms of CPU per call by process, and "util_%": the share of all cores the benchmark used."""
    baseline: Result | None = None
    rounds: list[float] = field(default_factory=list)
    """ops/s of each round, to show how steady the case was."""
    other_load: float = 0.0
    """Share of all cores (%) used by processes outside the benchmark during the case."""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95) * 1000

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "server": self.server,
            "inflight": self.inflight,
            "channel": self.channel,
            "ops": self.ops,
            "seconds": round(self.elapsed, 3),
            "ops_per_s": round(self.ops_per_s, 1),
            "p50_ms": round(self.p50, 3),
            "p95_ms": round(self.p95, 3),
            "p99_ms": round(self.p99, 3),
            "round_ops_per_s": [round(x, 1) for x in self.rounds],
            "other_load_pct": round(self.other_load, 1),
            "cpu_ms_per_op": {k: round(v, 3) for k, v in self.cpu.items()},
            "baseline": f"{self.baseline.case} ({self.baseline.server})" if self.baseline else None,
        }


class Cases:
    """Runs cases: a warm-up, then one measured window of ``duration`` seconds.

    The window is also reported in ``rounds`` equal slices, to show how steady the case was.
    """

    def __init__(self, duration: float, warmup: float, meter: CpuMeter, rounds: int = 3) -> None:
        self.duration = duration
        self.warmup = warmup
        self.meter = meter
        self.rounds = rounds
        self.results: list[Result] = []

    async def run(
        self,
        case: str,
        server: str,
        inflight: int,
        op: AsyncOp,
        *,
        channel: str = "shared",
        baseline: Result | None = None,
    ) -> Result:
        await drive(op, inflight, self.warmup, None)
        done: list[tuple[float, float]] = []
        with self.meter.window() as cpu:
            started = time.perf_counter()
            await drive(op, inflight, self.duration, done)
        # Throughput counts the calls completed within the measured window; the calls that
        # straddle its end count for latency only. Rounds are equal slices of the window.
        step = self.duration / self.rounds
        rounds = [
            sum(1 for t, _ in done if started + k * step <= t < started + (k + 1) * step) / step
            for k in range(self.rounds)
        ]
        ops = sum(1 for t, _ in done if t < started + self.duration)
        per_call = {name: seconds * 1000 / max(len(done), 1) for name, seconds in cpu.seconds.items()}
        result = Result(
            case,
            server,
            inflight,
            channel,
            ops,
            self.duration,
            [latency for _, latency in done],
            {**per_call, "util_%": cpu.ours_pct},
            baseline,
            rounds,
            other_load=cpu.other_pct,
        )
        self.results.append(result)
        print(
            f"  {case:<36} {server:<9} x{inflight:<3} {channel:<10} {result.ops_per_s:>7.0f}/s "
            f"p50 {result.p50:8.2f} ms  p99 {result.p99:8.2f} ms  (rounds {'/'.join(f'{r:.0f}' for r in rounds)}, "
            f"other load {other_load_cell(result.other_load)}%)",
            flush=True,
        )
        return result
