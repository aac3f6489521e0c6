"""The metadata benchmark's tables (figures with ratios to a baseline, CPU per call by process)
and the service's targets; the cases themselves run in bench._cases."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from bench._cases import Result
from bench._machine import other_load_cell
from bench._report import Check, print_aligned

__all__ = ["print_tables", "targets"]

TARGETS = {
    # Issue 17: ratios within one run, so that they hold on a shared machine.
    "alias_cpu_vs_health": 1.25,
    "alias_token_cpu_vs_health": 1.4,
    "search_p50_vs_sql": 2.0,
    "ordered_p50_ms": 10.0,
    "create_cpu_vs_postgres": 1.5,
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


def targets(found: dict[str, Result], paired: Mapping[int, Mapping[str, Sequence[float]]]) -> list[Check]:
    """A check for each target whose cases ran; "(info)" lines are not targets.

    The service's CPU per call is compared with its own health check's (the floor of any RPC,
    interceptor included) and with Postgres's for the same creates: CPU per call is what the
    load of a shared machine changes least. For gets, ``paired`` (in flight -> op -> CPU per
    call in each round, the ops measured in turn) gives the median of the rounds' ratios; the
    cases' own windows, minutes apart, are shown as "(info)".
    """
    checks = []

    for n, rounds in sorted(paired.items()):
        for op, label, limit in (
            ("get", "get-by-alias cached", TARGETS["alias_cpu_vs_health"]),
            ("token", "get-by-alias cached, token checked", TARGETS["alias_token_cpu_vs_health"]),
        ):
            ratios = sorted(mine / base for mine, base in zip(rounds[op], rounds["health"], strict=True) if base)
            if ratios:
                ratio = statistics.median(ratios)
                spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
                checks.append(
                    Check(
                        f"{label}, {n} in flight: service CPU vs health check's (median of {len(ratios)} rounds): "
                        f"<= {limit:g}x",
                        f"{ratio:.2f}x ({spread})",
                        ratio <= limit,
                    )
                )

    def cpu_ratio(key: str, base_key: str, party: str, base_party: str, label: str, limit: float) -> None:
        if key in found and base_key in found:
            mine, base = found[key].cpu[party], found[base_key].cpu[base_party]
            ratio = mine / base if base else float("inf")
            measured = f"{mine:.3f} / {base:.3f} ms = {ratio:.2f}x"
            checks.append(Check(f"{label}: <= {limit:g}x", measured, ratio <= limit))

    for n in (1, 16):
        cpu_ratio(f"alias-cached-{n}", f"floor-cached-{n}", "svc", "svc",
                  f"(info) get-by-alias cached, {n} in flight, the cases: service CPU vs health check's",
                  TARGETS["alias_cpu_vs_health"])  # fmt: skip
        cpu_ratio(f"alias-auth-{n}", f"floor-cached-{n}", "svc-auth", "svc",
                  f"(info) same, token checked, {n} in flight",
                  TARGETS["alias_token_cpu_vs_health"])  # fmt: skip
    for n in (1, 16):
        r = found.get(f"search-{n}")
        if r is not None and r.baseline is not None:
            ratio, limit = r.p50 / r.baseline.p50, TARGETS["search_p50_vs_sql"]
            label = "search 100-row page, filtered" if n == 1 else "(info) search page, filtered, 16 in flight"
            checks.append(
                Check(
                    f"{label}: p50 <= {limit:g}x the direct SQL's",
                    f"{r.p50:.2f} / {r.baseline.p50:.2f} ms = {ratio:.2f}x",
                    ratio <= limit,
                )
            )
    ordered = found.get("search-ordered-1")
    if ordered is not None:
        limit = TARGETS["ordered_p50_ms"]
        label = f"search 100-row page by metrics.accuracy DESC, 1 in flight: p50 <= {limit:g} ms"
        checks.append(Check(label, f"{ordered.p50:.2f} ms", ordered.p50 <= limit))
    for key, label in (("create-1", "create, 1 in flight"), ("create-16", "(info) create, 16 in flight")):
        cpu_ratio(key, key, "svc", "postgres", f"{label}: service CPU vs Postgres's", TARGETS["create_cpu_vs_postgres"])
    return checks
