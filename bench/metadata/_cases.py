"""The metadata benchmark's cases: each N coroutines calling back-to-back, a warm-up then one
measured window; their tables (figures with ratios to a baseline, CPU per call by process) and
the service's targets."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._cpu import CpuMeter
from bench._load import AsyncOp, drive, percentile
from bench._report import Check, print_aligned

__all__ = ["Cases", "Result", "print_tables", "targets"]

TARGETS = {
    "alias_p50_ms": 1.0,
    "alias_ops_16": 3000.0,
    "create_ops_1": 400.0,
    "search_p50_ms": 10.0,
}


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
            f"other load {result.other_load:.0f}%)",
            flush=True,
        )
        return result


def _ratios(result: Result) -> tuple[str, str, str]:
    """The baseline's name, p50 as a multiple of the baseline's, ops/s as a share of its."""
    base = result.baseline
    if base is None:
        return "", "", ""
    return (
        f"{base.case} x{base.inflight}",
        f"{result.p50 / base.p50:.1f}x" if base.p50 else "",
        f"{result.ops_per_s / base.ops_per_s * 100:.0f}%" if base.ops_per_s else "",
    )


def print_tables(results: Sequence[Result]) -> None:
    headers = ["case", "server", "in flight", "channel", "ops", "ops/s", "rounds min-max", "p50 ms", "p99 ms"]
    headers += ["baseline", "p50 vs base", "ops/s vs base"]
    rows = []
    for r in results:
        spread = f"{min(r.rounds):,.0f}-{max(r.rounds):,.0f}" if r.rounds else ""
        figures = [str(r.ops), f"{r.ops_per_s:,.0f}", spread, f"{r.p50:.2f}", f"{r.p99:.2f}", *_ratios(r)]
        rows.append([r.case, r.server, str(r.inflight), r.channel, *figures])
    print_aligned(headers, rows, numeric={2, 4, 5, 6, 7, 8, 10, 11})
    print("\nCPU per call: ms of CPU time per completed call, by process (postgres: all its backends);")
    print("ours = share of all cores our processes used; other = share used by processes outside the benchmark")
    parties = [k for k in results[0].cpu if k != "util_%"] if results else []
    headers = ["case", "server", "in flight", "channel", *parties, "ours %", "other %"]
    rows = [
        [
            r.case,
            r.server,
            str(r.inflight),
            r.channel,
            *(f"{r.cpu[p]:.3f}" for p in parties),
            f"{r.cpu['util_%']:.0f}",
            f"{r.other_load:.0f}",
        ]
        for r in results
    ]
    print_aligned(headers, rows, numeric={2, *range(4, len(headers))})


def targets(found: dict[str, Result]) -> list[Check]:
    """A check for each target whose case ran; "(info)" lines are not targets."""
    checks = []

    def p50_at_most(key: str, label: str, limit_ms: float) -> None:
        if key in found:
            r = found[key]
            checks.append(Check(f"{label}: p50 <= {limit_ms:g} ms", f"{r.p50:.2f} ms", r.p50 <= limit_ms))

    def ops_at_least(key: str, label: str, floor: float) -> None:
        if key in found:
            r = found[key]
            checks.append(Check(f"{label}: >= {floor:,.0f}/s", f"{r.ops_per_s:,.0f}/s", r.ops_per_s >= floor))

    p50_at_most("alias-cached-1", "get-by-alias cached, 1 in flight", TARGETS["alias_p50_ms"])
    ops_at_least("alias-cached-16", "get-by-alias cached, 16 in flight (shared channel)", TARGETS["alias_ops_16"])
    ops_at_least(
        "alias-cached-16-pw", "get-by-alias cached, 16 in flight (channel per worker)", TARGETS["alias_ops_16"]
    )
    p50_at_most("alias-auth-1", "(info) get-by-alias cached, token checked, 1 in flight", TARGETS["alias_p50_ms"])
    ops_at_least("alias-auth-16", "(info) get-by-alias cached, token checked, 16 in flight", TARGETS["alias_ops_16"])
    ops_at_least("create-1", "create, 1 in flight", TARGETS["create_ops_1"])
    p50_at_most("search-1", "search 100-row page, filtered, 1 in flight", TARGETS["search_p50_ms"])
    p50_at_most("search-16", "(info) search 100-row page, filtered, 16 in flight", TARGETS["search_p50_ms"])
    p50_at_most("search-ordered-1", "(info) search 100-row page, by accuracy, 1 in flight", TARGETS["search_p50_ms"])
    return checks
