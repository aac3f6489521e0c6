"""The console benchmark's tables (each page against the gRPC calls it makes, CPU per request by
process) and its targets."""

from __future__ import annotations

from collections.abc import Sequence

from bench._cases import Result
from bench._machine import other_load_cell
from bench._report import Check, print_aligned
from bench.console._pages import Page

__all__ = ["TARGETS_MS", "print_tables", "targets"]

TARGETS_MS = {"version": 30.0, "project": 100.0, "search": 100.0, "listing": 100.0}
"""p50 server time of a page, one request at a time (issue 15)."""


def _pairs(pages: Sequence[Page], found: dict[str, Result]) -> list[tuple[Page, Result, Result]]:
    """Each page's result and its calls' result, in the order they ran."""
    return [
        (page, found[f"{page.key}-page-{n}"], found[f"{page.key}-calls-{n}"])
        for n in sorted({r.inflight for r in found.values()})
        for page in pages
        if f"{page.key}-page-{n}" in found
    ]


def print_tables(pages: Sequence[Page], found: dict[str, Result], calls_per_page: dict[str, int]) -> None:
    print("\nPages against the gRPC calls they make (the same calls straight from modelyard.aio); ms")
    headers = ["page", "in flight", "pages/s", "p50", "p95", "p99", "calls p50", "calls p95", "calls p99", "ratio p50"]
    headers += ["console's own p50", "RPCs"]
    rows = []
    for page, served, calls in _pairs(pages, found):
        rows.append(
            [
                page.title,
                str(served.inflight),
                f"{served.ops_per_s:,.0f}",
                *(f"{v:.1f}" for v in (served.p50, served.p95, served.p99, calls.p50, calls.p95, calls.p99)),
                f"{served.p50 / calls.p50:.1f}x" if calls.p50 else "",
                f"{served.p50 - calls.p50:.1f}",
                str(calls_per_page.get(page.key, "")),
            ]
        )
    print_aligned(headers, rows, numeric=set(range(1, len(headers))))

    print("\nCPU per request: ms of CPU time by process (postgres: all its backends; client: this process,")
    print("the browsers or the SDK); ours = share of all cores our processes used; other = the rest of the machine")
    results = [r for _, served, calls in _pairs(pages, found) for r in (served, calls)]
    parties = [k for k in results[0].cpu if k != "util_%"] if results else []
    headers = ["page", "made by", "in flight", *parties, "ours %", "other %"]
    rows = [
        [
            r.case,
            r.server,
            str(r.inflight),
            *(f"{r.cpu[p]:.2f}" for p in parties),
            f"{r.cpu['util_%']:.0f}",
            other_load_cell(r.other_load),
        ]
        for r in results
    ]
    print_aligned(headers, rows, numeric={2, *range(3, len(headers))})


def targets(pages: Sequence[Page], found: dict[str, Result]) -> list[Check]:
    """A p50 target for each page that has one, one request at a time; the same pages with
    several browsers at once as "(info)"."""
    checks = []
    for page, served, calls in _pairs(pages, found):
        limit = TARGETS_MS.get(page.key)
        if limit is None:
            continue
        label = f"{page.title}: p50 <= {limit:g} ms"
        label = label if served.inflight == 1 else f"(info) {label}, {served.inflight} browsers"
        measured = f"{served.p50:.1f} ms (its calls {calls.p50:.1f} ms)"
        checks.append(Check(label, measured, served.p50 <= limit))
    return checks
