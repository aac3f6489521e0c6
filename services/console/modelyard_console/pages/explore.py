"""The pages that look across versions: compare (and its downloadable report), search, lineage.

Each page's whole state is in its URL (``/compare?v=p/m:1&v=p/m:2``, ``/search?filter=...``),
so a person can share what they see.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import ComparedField, Comparison, LineageDirection
from modelyard.errors import InvalidArgumentError
from modelyard_console.charts import bar_chart, graph, grouped_bar_chart
from modelyard_console.pages._common import console_of, page

__all__ = ["routes"]

TOP_BARS = 15  # a structured metric's bars shown per version
PAGE_SIZE, MAX_PAGE_SIZE = 25, 100
# The report is a document on its own, opened from a disk: its style is inline, nothing else
# may load or run. The file carries this policy too (a <meta>), as a header does not follow it.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLESHEET = Path(__file__).parent.parent / "static" / "console.css"


def routes() -> list[Route]:
    return [
        Route("/compare", page(_compare)),
        Route("/compare/report", page(_compare_report)),
        Route("/search", page(_search)),
        Route("/projects/{project}/models/{model}/versions/{version:int}/lineage", page(_lineage)),
    ]


def version_path(reference: str) -> str:
    """The console's page of the version "project/model:N"."""
    project, _, rest = reference.partition("/")
    model, _, number = rest.rpartition(":")
    return f"/projects/{quote(project, safe='')}/models/{quote(model, safe='')}/versions/{quote(number, safe='')}"


async def _comparison(request: Request, client: modelyard.aio.AsyncClient) -> dict[str, Any]:
    """What both the compare page and its report show."""
    comparison = await client.compare(request.query_params.getlist("v"))
    references = [version.reference for version in comparison.versions]
    scalars = {
        row.key.removeprefix("metrics."): [_number(value) for value in row.values]
        for row in comparison.metrics
        if not any(isinstance(value, dict) for value in row.values) and any(_number(v) is not None for v in row.values)
    }
    structured = {
        row.key.removeprefix("metrics."): [
            (reference, bar_chart(_numbers(value), TOP_BARS) if isinstance(value, dict) else None)
            for reference, value in zip(references, row.values, strict=True)
        ]
        for row in comparison.metrics
        if any(isinstance(value, dict) for value in row.values)
    }
    return {
        "comparison": comparison,
        "sections": _sections(comparison),
        "chart": grouped_bar_chart(references, scalars) if scalars else None,
        "structured": structured,
        "shown": _shown,
        "version_path": version_path,
        "compare_query": urlencode([("v", reference) for reference in request.query_params.getlist("v")]),
    }


def _sections(comparison: Comparison) -> list[tuple[str, tuple[ComparedField, ...]]]:
    sections = (("Metadata", comparison.metadata), ("Parameters", comparison.params), ("Metrics", comparison.metrics))
    return [(title, rows) for title, rows in sections if rows]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _numbers(value: dict[str, Any]) -> dict[str, float]:
    return {key: number for key, item in value.items() if (number := _number(item)) is not None}


def _shown(value: Any) -> str:
    """A compared value as a table cell prints it."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        return f"{len(value)} entries (chart below)"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


async def _compare(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    context = await _comparison(request, client)
    return console_of(request).render(request, "compare.html", **context)


async def _compare_report(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    """The comparison as one self-contained HTML file a validator attaches to a sign-off."""
    context = await _comparison(request, client)
    made = datetime.now(UTC)
    response = console_of(request).render(
        request,
        "compare_report.html",
        made=made,
        stylesheet=STYLESHEET.read_text(encoding="utf-8"),
        policy=REPORT_CSP,
        **context,
    )
    filename = f"modelyard-comparison-{made:%Y%m%dT%H%M%SZ}.html"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


async def _search(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    params = request.query_params
    state = {key: params.get(key, "").strip() for key in ("filter", "order_by", "project")}
    size = _page_size(params.get("page_size", ""))
    token = params.get("page_token", "")
    context: dict[str, Any] = {"state": state, "page_size": size, "max_page_size": MAX_PAGE_SIZE}
    try:
        found = await client.search_page(**state, page_size=size, page_token=token)
    except InvalidArgumentError as exc:
        return console_of(request).render(request, "search.html", 400, error=exc.message, **context)
    context["page"] = found
    context["metrics"] = sorted({key for version in found.versions for key in version.metrics})
    context["first"] = bool(token)
    if found.next_page_token:
        context["next"] = "/search?" + urlencode({**state, "page_size": size, "page_token": found.next_page_token})
    context["restart"] = "/search?" + urlencode({**state, "page_size": size})
    return console_of(request).render(request, "search.html", **context)


def _page_size(asked: str) -> int:
    """The page size asked for, kept within 1..MAX_PAGE_SIZE; the default when none is."""
    return min(max(int(asked), 1), MAX_PAGE_SIZE) if asked.isdigit() and len(asked) < 6 else PAGE_SIZE


async def _lineage(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    project, model_name = request.path_params["project"], request.path_params["model"]
    reference = f"{project}/{model_name}:{request.path_params['version']}"
    params = request.query_params
    try:
        direction = LineageDirection.parse(params.get("direction", "both"))
        depth = int(params.get("depth", "10"))
    except ValueError as exc:
        raise InvalidArgumentError(f"direction or depth: {exc}") from None
    lineage = await client.lineage(reference, direction=direction, depth=depth)
    drawn = graph(
        ((node.reference, node.stage.value, node.status.value, node.depth) for node in lineage.nodes),
        ((edge.from_reference, edge.to_reference) for edge in lineage.edges),
    )
    return console_of(request).render(
        request,
        "lineage.html",
        lineage=lineage,
        graph=drawn,
        reference=reference,
        direction=direction.value.lower(),
        depth=depth,
        version_path=version_path,
    )
