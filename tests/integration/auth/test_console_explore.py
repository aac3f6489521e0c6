"""The console's compare, report, search and lineage pages against a real metadata service with
authentication on: what they show is checked against the API's own answers, as HTML and in a
real browser."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from auth_sessions import AuthTokens
from console_browser import marked_text, picture, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, Page, expect

import modelyard
from modelyard import Comparison
from modelyard.errors import InvalidArgumentError
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess

IMPORTANCE = {
    1: {"age": 0.4, "income": 0.35, "tenure": 0.1},
    3: {"age": 0.2, "income": 0.5, "tenure": 0.25, "region": 0.05},
}


@dataclass(frozen=True)
class Seeded:
    project: str
    viewer: str
    viewer_token: str

    @property
    def scorers(self) -> list[str]:
        return [f"{self.project}/scorer:{number}" for number in (1, 2, 3)]


@pytest.fixture(scope="module")
def seeded(auth_metadata: ServiceProcess, auth_tokens: AuthTokens) -> Seeded:
    """Three scorer versions that differ in some fields (the second archived), an upstream
    features version and two downstream rankers, and a viewer of the project."""
    suffix = uuid.uuid4().hex[:8]
    project, viewer = f"explore-{suffix}", f"explorer-{suffix}"
    with modelyard.connect(auth_metadata.target, token=auth_tokens.admin) as admin:
        admin.create_project(project)
        for model in ("features", "scorer", "ranker"):
            admin.create_model(f"{project}/{model}")
        features = admin.create_version(f"{project}/features", framework="pandas").reference
        for number, depth in ((1, 3), (2, 5), (3, 5)):
            version = admin.create_version(
                f"{project}/scorer",
                framework="sklearn",
                hyperparameters={"max_depth": depth, "solver": "lbfgs"},
                tags={"team": "risk"},
                produced_by=[features] if number == 1 else [],
            )
            metrics: dict[str, object] = {"accuracy": 0.8 + number / 100}
            if number != 2:
                metrics["auc"] = 0.7 + number / 10
                metrics["importance"] = IMPORTANCE[number]
            admin.log_metrics(version.reference, metrics)
        for _ in range(2):
            admin.create_version(f"{project}/ranker", framework="xgboost", produced_by=[f"{project}/scorer:1"])
        admin.transition_stage(f"{project}/scorer:2", "ARCHIVED", reason="superseded")
        admin.create_principal(viewer)
        admin.set_project_role(project, viewer, "viewer")
        viewer_token = admin.create_token(viewer, description="console explore tests").secret
    return Seeded(project, viewer, viewer_token)


def _compared_rows(html: str) -> dict[str, bool]:
    """Each row of the comparison table: its key, and whether it is marked as differing."""
    rows = re.findall(r'<tr data-key="([^"]*)"( class="differs")?>\s*<th scope="row">(.*?)</th>', html, re.S)
    for _, differs, header in rows:
        assert ('class="marker"' in header) == bool(differs)  # the visible "*", not colour alone
    return {unescape(key): bool(differs) for key, differs, _ in rows}


def _grouped_bars(html: str) -> dict[str, list[tuple[str, float]]]:
    """The grouped chart's bars: per metric, (version, value) in drawing order."""
    groups = re.split(r'<g class="group" data-metric="', html)[1:]
    return {
        unescape(group.split('"', 1)[0]): [
            (unescape(label), float(value))
            for label, value in re.findall(r'<g class="grouped-bar" data-label="([^"]*)" data-value="([^"]*)">', group)
        ]
        for group in groups
    }


def _side_by_side(html: str, metric: str) -> dict[str, list[tuple[str, float]]]:
    """Per version, the bars of its chart of the structured metric ``metric``."""
    figures = re.findall(rf'<figure data-reference="([^"]*)" data-metric="{metric}">(.*?)</figure>', html, re.S)
    return {
        unescape(reference): [
            (label, float(value)) for label, value in re.findall(r'data-label="([^"]*)" data-value="([^"]*)"', body)
        ]
        for reference, body in figures
    }


def _compare_params(references: list[str]) -> list[tuple[str, str]]:
    return [("v", reference) for reference in references]


@pytest.fixture(scope="module")
def compared(console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess) -> tuple[str, Comparison]:
    """The compare page of the three scorers, and the API's comparison of them."""
    with (
        signed_in(console, seeded.viewer_token) as browser,
        modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api,
    ):
        page = browser.get("/compare", params=_compare_params(seeded.scorers))
        assert page.status_code == 200, page.text
        return page.text, api.compare(seeded.scorers)


def test_compare_marks_exactly_the_rows_the_api_says_differ(seeded: Seeded, compared: tuple[str, Comparison]) -> None:
    html, comparison = compared
    expected = {row.key: row.differs for row in (*comparison.metadata, *comparison.params, *comparison.metrics)}
    assert _compared_rows(html) == expected
    assert expected["params.max_depth"] and not expected["params.solver"] and not expected["framework"]
    headers = re.findall(r'<th scope="col" data-reference="([^"]*)"><a href="([^"]*)">', html)
    assert headers == [(ref, f"/projects/{seeded.project}/models/scorer/versions/{ref[-1]}") for ref in seeded.scorers]


def test_compare_groups_scalar_metrics_and_draws_importances_side_by_side(
    seeded: Seeded, compared: tuple[str, Comparison]
) -> None:
    html, comparison = compared
    legend = re.findall(r'<g class="legend" data-number="(\d+)" data-label="([^"]*)">', html)
    assert legend == [(str(number), ref) for number, ref in enumerate(seeded.scorers, start=1)]
    expected = {
        row.key.removeprefix("metrics."): [
            (ref, value) for ref, value in zip(seeded.scorers, row.values, strict=True) if value is not None
        ]
        for row in comparison.metrics
        if not any(isinstance(value, dict) for value in row.values)
    }
    assert _grouped_bars(html) == expected
    assert len(expected["accuracy"]) == 3 and len(expected["auc"]) == 2  # scorer:2 logged no auc
    importances = _side_by_side(html, "importance")
    assert list(importances) == seeded.scorers
    for number, ref in zip((1, 2, 3), seeded.scorers, strict=True):
        drawn = sorted(IMPORTANCE.get(number, {}).items(), key=lambda item: (-item[1], item[0]))
        assert importances[ref] == drawn


def test_the_model_page_offers_to_compare_its_versions(console: HttpServiceProcess, seeded: Seeded) -> None:
    with signed_in(console, seeded.viewer_token) as browser:
        page = browser.get(f"/projects/{seeded.project}/models/scorer")
    form = re.search(r'<form method="get" action="/compare">(.*?)</form>', page.text, re.S)
    assert form is not None
    assert sorted(re.findall(r'<input type="checkbox" name="v" value="([^"]*)"', form[1])) == seeded.scorers


def test_the_report_is_one_inert_file_with_the_pages_values_and_its_maker(
    console: HttpServiceProcess, seeded: Seeded
) -> None:
    with signed_in(console, seeded.viewer_token) as browser:
        page = browser.get("/compare", params=_compare_params(seeded.scorers))
        link = re.search(r'<a href="(/compare/report\?[^"]*)">', page.text)
        assert link is not None
        report = browser.get(unescape(link[1]))
    assert report.status_code == 200
    assert report.headers["content-disposition"].startswith('attachment; filename="modelyard-comparison-')
    html = report.text
    policy = report.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";")}
    assert directives["default-src"] == ["'none'"] and directives["style-src"] == ["'unsafe-inline'"]
    assert all(sources == ["'none'"] for name, sources in directives.items() if name != "style-src")
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert meta is not None and unescape(meta[1]) == policy  # the file keeps it on a disk too
    assert "<script" not in html.lower() and not re.search(r"https?:", html, re.I)
    assert not re.search(r"<link|\ssrc=|\shref=", html, re.I)  # nothing to fetch, nowhere to go
    assert re.search(r"<style>.+</style>", html, re.S)
    assert _compared_rows(html) == _compared_rows(page.text)
    assert _grouped_bars(html) == _grouped_bars(page.text)
    assert _side_by_side(html, "importance") == _side_by_side(page.text, "importance")
    assert marked_text(html, 'data-field="made-by"') == seeded.viewer
    made = datetime.fromisoformat(re.search(r'<time datetime="([^"]*)" data-field="made-at"', html)[1])  # type: ignore[index]
    assert abs(datetime.now(UTC) - made) < timedelta(minutes=5)


def test_compare_shows_the_services_refusal_of_a_single_version(console: HttpServiceProcess, seeded: Seeded) -> None:
    with signed_in(console, seeded.viewer_token) as browser:
        page = browser.get("/compare", params=_compare_params(seeded.scorers[:1]))
    assert page.status_code == 400
    assert 'role="alert"' in page.text


def _result_references(html: str) -> list[str]:
    return [unescape(ref) for ref in re.findall(r'<tr data-reference="([^"]*)"', html)]


def _next_link(html: str) -> str | None:
    found = re.search(r'<a rel="next" href="([^"]*)">', html)
    return unescape(found[1]) if found else None


def test_search_pages_through_the_apis_results_in_order(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    query = {"filter": 'model = "scorer" OR model = "ranker"', "order_by": "metrics.accuracy DESC, created ASC"}
    with (
        signed_in(console, seeded.viewer_token) as browser,
        modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api,
    ):
        expected = [v.reference for v in api.search_versions(**query, project=seeded.project)]
        first = api.search_page(**query, project=seeded.project, page_size=2)
        shown, url = [], f"/search?{httpx.QueryParams({**query, 'project': seeded.project, 'page_size': 2})}"
        pages = []
        while url is not None:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            pages.append(_result_references(page.text))
            shown += pages[-1]
            url = _next_link(page.text)
            assert url is None or "page_token=" in url
    assert len(expected) == 5
    assert pages[0] == [v.reference for v in first.versions]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert shown == expected
    assert 'value="metrics.accuracy DESC, created ASC"' in page.text  # the state stays in the form and URL


def test_search_shows_the_services_filter_error_next_to_the_form(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    bad = 'metrics.accuracy > "high"'
    with (
        modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api,
        pytest.raises(InvalidArgumentError) as refused,
    ):
        api.search_page(bad)
    with signed_in(console, seeded.viewer_token) as browser:
        page = browser.get("/search", params={"filter": bad})
    assert page.status_code == 400
    error = re.search(r'<p id="search-error" class="error" role="alert">([^<]*)</p>', page.text)
    assert error is not None and unescape(error[1]) == refused.value.message
    assert 'aria-describedby="search-error"' in page.text
    assert unescape(re.search(r'<input id="filter" name="filter"[^>]* value="([^"]*)"', page.text)[1]) == bad  # type: ignore[index]


def test_lineage_draws_the_apis_nodes_and_edges_each_linked(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    root = f"{seeded.project}/scorer:1"
    with (
        signed_in(console, seeded.viewer_token) as browser,
        modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api,
    ):
        version_page = browser.get(f"/projects/{seeded.project}/models/scorer/versions/1")
        link = re.search(r'<a href="([^"]*/lineage)">', version_page.text)
        assert link is not None
        page = browser.get(unescape(link[1]), params={"direction": "both", "depth": 5})
        lineage = api.lineage(root, direction="both", depth=5)
        nodes = re.findall(
            r'<a class="node" href="([^"]*)" data-reference="([^"]*)" data-depth="(-?\d+)">(.*?)</a>', page.text, re.S
        )
        for href, _, _, _ in nodes:
            assert browser.get(unescape(href)).status_code == 200
    assert page.status_code == 200, page.text
    assert len(nodes) == len(lineage.nodes) == 4
    assert {(ref, int(depth)) for _, ref, depth, _ in nodes} == {(n.reference, n.depth) for n in lineage.nodes}
    for href, ref, _, label in nodes:
        project, model, number = re.fullmatch(r"([^/]+)/([^:]+):(\d+)", ref).groups()  # type: ignore[union-attr]
        assert href == f"/projects/{project}/models/{model}/versions/{number}"
        node = next(n for n in lineage.nodes if n.reference == ref)
        assert ref in label and f"{node.stage.value} · {node.status.value}" in label
    edges = set(re.findall(r'<line class="edge" data-from="([^"]*)" data-to="([^"]*)"', page.text))
    assert edges == {(e.from_reference, e.to_reference) for e in lineage.edges}
    assert len(edges) == 3


# --- in a real browser (Debian's chromium, driven by Playwright), each page checked by axe-core --

HIGHLIGHT = "rgb(255, 246, 220)"  # console.css: .compare tr.differs


def test_in_the_browser_versions_picked_on_the_model_page_compare_with_their_differences_marked(
    console: HttpServiceProcess, seeded: Seeded, compared: tuple[str, Comparison], chromium: Browser, tmp_path: Path
) -> None:
    _, comparison = compared
    with tab(chromium) as page:
        sign_in(page, console, seeded.viewer_token, f"/projects/{seeded.project}/models/scorer")
        for reference in seeded.scorers:
            page.get_by_label(f"Compare {reference}").check()
        page.get_by_role("button", name="Compare selected").click()
        page.wait_for_url(re.compile(r"/compare\?v="))
        expect(page.get_by_role("heading", level=1)).to_have_text("Compare 3 versions")
        rows = page.locator("tr[data-key]").evaluate_all(
            """rows => rows.map(row => [row.dataset.key, getComputedStyle(row.cells[0]).backgroundColor,
                                        row.cells[0].querySelector("abbr")?.textContent ?? ""])"""
        )
        expected = {row.key: row.differs for row in (*comparison.metadata, *comparison.params, *comparison.metrics)}
        assert {key: (colour == HIGHLIGHT, marker == "*") for key, colour, marker in rows} == {
            key: (differs, differs) for key, differs in expected.items()
        }
        columns = page.locator("thead th[data-reference]").evaluate_all("cells => cells.map(c => c.dataset.reference)")
        assert sorted(columns) == seeded.scorers
        accuracy = page.locator('tr[data-key="metrics.accuracy"] td').all_inner_texts()
        api_accuracy = next(row.values for row in comparison.metrics if row.key == "metrics.accuracy")
        by_reference = dict(zip(seeded.scorers, api_accuracy, strict=True))
        shown = [float(value) for value in accuracy]  # six significant digits
        assert shown == pytest.approx([by_reference[reference] for reference in columns], rel=1e-6)
        assert violations(page) == []
        picture(page, "compare")

        with page.expect_download() as downloading:
            page.get_by_role("link", name=re.compile("^Download as a report")).click()
        download = downloading.value
        assert download.suggested_filename.startswith("modelyard-comparison-")
        report = tmp_path / download.suggested_filename
        download.save_as(report)
        opened = page.context.new_page()
        fetched: list[str] = []
        opened.on("request", lambda request: fetched.append(request.url))
        opened.goto(report.as_uri())
        assert fetched == [report.as_uri()]  # self-contained: nothing else to load
        expect(opened.get_by_role("heading", level=1)).to_have_text("Model comparison report")
        assert opened.locator("tr.differs").count() == sum(expected.values())
        assert opened.locator('tr[data-key="metrics.accuracy"] td').all_inner_texts() == accuracy
        assert violations(opened) == []


def _shown_references(page: Page) -> list[str]:
    references: list[str] = page.locator("tr[data-reference]").evaluate_all("rs => rs.map(r => r.dataset.reference)")
    return references


def test_in_the_browser_search_pages_through_the_apis_results_and_shows_a_mistake_beside_the_form(
    console: HttpServiceProcess, seeded: Seeded, chromium: Browser, auth_metadata: ServiceProcess
) -> None:
    query = {"filter": 'model = "scorer" OR model = "ranker"', "order_by": "metrics.accuracy DESC, created ASC"}
    bad = 'metrics.accuracy > "high"'
    with modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api:
        first = api.search_page(**query, project=seeded.project, page_size=2)
        second = api.search_page(**query, project=seeded.project, page_size=2, page_token=first.next_page_token)
        with pytest.raises(InvalidArgumentError) as refused:
            api.search_page(bad)
    with tab(chromium) as page:
        sign_in(page, console, seeded.viewer_token, "/search")
        page.get_by_label("Filter").fill(query["filter"])
        page.get_by_label("Order by").fill(query["order_by"])
        page.get_by_label("Project").fill(seeded.project)
        page.get_by_label("Per page").fill("2")
        page.get_by_label("Filter").press("Enter")
        page.wait_for_url(re.compile(r"/search\?filter="))
        assert _shown_references(page) == [v.reference for v in first.versions]
        assert violations(page) == []
        picture(page, "search")

        page.get_by_role("link", name="Next page").click()
        page.wait_for_url(re.compile("page_token="))
        assert _shown_references(page) == [v.reference for v in second.versions]
        expect(page.get_by_label("Order by")).to_have_value(query["order_by"])  # the search stays in the form

        page.get_by_label("Filter").fill(bad)
        page.keyboard.press("Enter")
        expect(page.get_by_role("alert")).to_have_text(refused.value.message)
        expect(page.get_by_label("Filter")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Filter")).to_have_value(bad)
        assert violations(page) == []


def test_in_the_browser_the_lineage_graph_links_each_of_the_apis_versions(
    console: HttpServiceProcess, seeded: Seeded, chromium: Browser, auth_metadata: ServiceProcess
) -> None:
    root = f"{seeded.project}/scorer:1"
    with modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api:
        lineage = api.lineage(root, direction="both", depth=10)
    with tab(chromium) as page:
        sign_in(page, console, seeded.viewer_token, f"/projects/{seeded.project}/models/scorer/versions/1")
        page.get_by_role("link", name="Lineage graph").click()
        page.wait_for_url(re.compile(r"/versions/1/lineage$"))
        graph = page.get_by_role("group", name=f"Lineage graph of {root}")
        nodes = graph.get_by_role("link")
        expect(nodes).to_have_count(len(lineage.nodes))
        shown = nodes.evaluate_all("links => links.map(link => [link.dataset.reference, Number(link.dataset.depth)])")
        assert sorted(map(tuple, shown)) == sorted((node.reference, node.depth) for node in lineage.nodes)
        assert violations(page) == []
        picture(page, "lineage")

        graph.get_by_role("link").filter(has_text=f"{seeded.project}/features:1").focus()
        page.keyboard.press("Enter")  # a box of the graph is a link, reached with the keyboard
        page.wait_for_url(f"{console.url}/projects/{seeded.project}/models/features/versions/1")
