"""The metadata benchmark's tables (figures with ratios to a baseline, CPU per call by process)
and the service's targets; the cases themselves run in bench._cases."""

from __future__ import annotations

from collections.abc import Sequence

from bench._cases import Result
from bench._machine import other_load_cell
from bench._report import Check, print_aligned

__all__ = ["print_tables", "targets"]

TARGETS = {
    "alias_p50_ms": 1.0,
    "alias_ops_16": 3000.0,
    "create_ops_1": 400.0,
    "search_p50_ms": 10.0,
}


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
            other_load_cell(r.other_load),
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
