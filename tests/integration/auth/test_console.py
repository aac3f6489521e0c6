"""The console against a real metadata service with authentication on: sign-in and sessions,
what the pages show (checked against the API), and the security every page carries."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from auth_sessions import AuthTokens
from console_browser import form_field, marked_text, picture, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, expect

import modelyard
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess

IMPORTANCE = {f"feature_{i:02d}": round(0.01 * (i % 7) + 0.001 * i, 4) for i in range(20)}


@dataclass(frozen=True)
class Seeded:
    project: str
    admin_token: str
    viewer_token: str


@pytest.fixture(scope="module")
def seeded(auth_metadata: ServiceProcess, auth_tokens: AuthTokens) -> Seeded:
    """A project with two models, versions with accuracy and a feature importance, two aliases
    (each version page's change forms include one removal form per alias), a viewer."""
    suffix = uuid.uuid4().hex[:8]
    project, viewer = f"console-{suffix}", f"viewer-{suffix}"
    with modelyard.connect(auth_metadata.target, token=auth_tokens.admin) as admin:
        admin.create_project(project, description="Credit <b>risk</b>", owner="alice")
        admin.create_model(f"{project}/scorer", team="risk", description="<script>alert('x')</script>")
        admin.create_model(f"{project}/ranker", team="growth")
        for accuracy in (0.91, 0.87, 0.95):
            version = admin.create_version(f"{project}/scorer", framework="sklearn")
            admin.log_metrics(version.reference, {"accuracy": accuracy, "importance": IMPORTANCE})
        for alias in ("candidate", "best"):
            admin.set_alias(f"{project}/scorer", alias, 3, reason=f"{alias} <i>by accuracy</i>")
        ranker = admin.create_version(f"{project}/ranker", framework="xgboost", tags={"note": "javascript:alert(1)"})
        admin.log_metrics(ranker.reference, {"accuracy": 0.8})
        admin.create_principal(viewer)
        admin.set_project_role(project, viewer, "viewer")
        viewer_token = admin.create_token(viewer, description="console tests").secret
    return Seeded(project, auth_tokens.admin, viewer_token)


def test_a_page_without_a_session_sends_to_sign_in_and_back(console: HttpServiceProcess, seeded: Seeded) -> None:
    with httpx.Client(base_url=console.url) as browser:
        answer = browser.get(f"/projects/{seeded.project}?metric=auc")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next=%2Fprojects%2F{seeded.project}%3Fmetric%3Dauc"


def test_sign_in_takes_a_token_keeps_it_server_side_and_sign_out_ends_the_session(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    with httpx.Client(base_url=console.url) as browser:
        form = browser.get("/sign-in")
        assert browser.post("/sign-in", data={"token": seeded.admin_token}).status_code == 403  # no CSRF token
        refused = browser.post("/sign-in", data={"csrf": form_field(form.text, "csrf"), "token": "myd_" + "x" * 43})
        assert refused.status_code == 401
        assert "sign-in refused: " in refused.text and "myd_xxx" not in refused.text
        signed = browser.post(
            "/sign-in",
            data={"csrf": form_field(refused.text, "csrf"), "token": seeded.admin_token, "next": "//evil.example"},
        )
        assert (signed.status_code, signed.headers["location"]) == (303, "/")  # never to another origin
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and seeded.admin_token not in cookie
        page = browser.get("/")
        assert page.status_code == 200 and seeded.admin_token not in page.text
        assert browser.post("/sign-out", data={}).status_code == 403  # a POST without the CSRF token
        out = browser.post("/sign-out", data={"csrf": form_field(page.text, "csrf")})
        assert (out.status_code, out.headers["location"]) == (303, "/sign-in")
        session_id = signed.cookies["modelyard_session"]
        again = httpx.get(f"{console.url}/", cookies={"modelyard_session": session_id})
        assert again.status_code == 303  # the session is gone on the server, not only in the browser
    for log in (console.log_path, auth_metadata.log_path):  # neither token, good or refused, is logged
        assert seeded.admin_token not in log.read_text() and "myd_xxx" not in log.read_text()


def test_the_project_pages_show_what_the_api_says(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    with (
        signed_in(console, seeded.viewer_token) as browser,
        modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api,
    ):
        projects = browser.get("/")
        project_page = browser.get(f"/projects/{seeded.project}")
        summary = api.project_summary(seeded.project, metric="accuracy")
        models = list(api.list_models(seeded.project))

    # Each model's lifecycle indicator: its newest version here (none is aliased champion).
    assert [(m.name, m.lifecycle and m.lifecycle.version) for m in models] == [("ranker", 1), ("scorer", 3)]
    for model in models:
        shown = re.search(rf'<tr data-model="{model.name}">(.*?)</tr>', project_page.text, re.S)
        assert shown is not None and model.lifecycle is not None
        assert f"{model.full_name}:{model.lifecycle.version}</a>" in shown[1]
        assert marked_text(shown[1], 'title="stage"') == model.lifecycle.stage == "DEVELOPMENT"
        assert marked_text(shown[1], 'title="status"') == model.lifecycle.status == "PENDING_UPLOAD"
    row = re.search(rf'<tr data-project="{seeded.project}">(.*?)</tr>', projects.text, re.S)
    assert row is not None
    assert marked_text(row[1], 'data-field="models"') == str(summary.model_count) == "2"
    assert marked_text(row[1], 'data-field="development"') == "4"
    assert marked_text(project_page.text, 'data-field="models"') == "2"
    assert summary.metric is not None
    assert float(marked_text(project_page.text, 'data-field="metric-min"')) == summary.metric.min == 0.8
    assert float(marked_text(project_page.text, 'data-field="metric-max"')) == summary.metric.max == 0.95
    assert "Credit &lt;b&gt;risk&lt;/b&gt;" in project_page.text


def test_the_model_page_sorts_its_versions_by_the_column_its_url_names(
    console: HttpServiceProcess, seeded: Seeded
) -> None:
    model = f"/projects/{seeded.project}/models/scorer"
    with signed_in(console, seeded.viewer_token) as browser:
        default, best_first, worst_first = (
            browser.get(model + query) for query in ("", "?sort=accuracy&order=desc", "?sort=accuracy&order=asc")
        )

    def order(html: str) -> list[str]:
        return re.findall(r'<tr data-reference="[^"]*" data-version="(\d+)"', html)

    assert order(default.text) == ["3", "2", "1"]  # newest first
    assert order(best_first.text) == ["3", "1", "2"]  # accuracy 0.95, 0.91, 0.87
    assert order(worst_first.text) == ["2", "1", "3"]
    # The sorted column says so, and its header link turns the order round.
    header = r'<th scope="col" aria-sort="descending"><a href="\?sort=accuracy&amp;order=asc" data-sort="accuracy">'
    assert re.search(header, best_first.text)


def test_the_version_page_draws_feature_importance_largest_first(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    with modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api:
        consumers = api.version_consumers(f"{seeded.project}/scorer:3")
    with signed_in(console, seeded.viewer_token) as browser:
        page = browser.get(f"/projects/{seeded.project}/models/scorer/versions/3")
        everything = browser.get(f"/projects/{seeded.project}/models/scorer/versions/3?all=1")

    expected = sorted(IMPORTANCE.items(), key=lambda item: (-item[1], item[0]))
    bars = re.findall(r'<g class="bar" data-label="([^"]*)" data-value="([^"]*)">', page.text)
    assert [(label, float(value)) for label, value in bars] == expected[:15]
    assert "Show all 20" in page.text
    bars = re.findall(r'<g class="bar" data-label="([^"]*)"', everything.text)
    assert bars == [label for label, _ in expected]
    assert float(marked_text(page.text, 'data-metric="accuracy"')) == 0.95
    assert float(marked_text(page.text, 'data-field="band-max"')) == 0.95
    assert marked_text(page.text, 'data-field="team-count"') == str(consumers.team_count)


def test_user_text_renders_inert_and_every_page_carries_a_strict_policy(
    console: HttpServiceProcess, seeded: Seeded
) -> None:
    with signed_in(console, seeded.admin_token) as browser:
        model = browser.get(f"/projects/{seeded.project}/models/scorer")
        version = browser.get(f"/projects/{seeded.project}/models/ranker/versions/1")
    assert "<script" not in model.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in model.text
    assert 'href="javascript:' not in version.text
    for answer in (model, version):
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy
        assert answer.headers["x-frame-options"] == "DENY"


def test_a_project_the_user_may_not_read_shows_the_services_refusal(
    console: HttpServiceProcess, seeded: Seeded, auth_metadata: ServiceProcess
) -> None:
    with modelyard.connect(auth_metadata.target, token=seeded.admin_token) as admin:
        hidden = f"hidden-{uuid.uuid4().hex[:8]}"
        admin.create_project(hidden)
    with signed_in(console, seeded.viewer_token) as browser:
        answer = browser.get(f"/projects/{hidden}")
        listing = browser.get("/")
    assert answer.status_code == 403
    assert "PERMISSION_DENIED" in answer.text or "may not" in answer.text
    assert hidden not in listing.text  # the listing holds only what the user may read


# --- in a real browser (Debian's chromium, driven by Playwright) ------------------------------


def test_a_person_signs_in_and_walks_from_the_projects_to_a_versions_chart(
    console: HttpServiceProcess, seeded: Seeded, chromium: Browser, auth_metadata: ServiceProcess
) -> None:
    with modelyard.connect(auth_metadata.target, token=seeded.viewer_token) as api:
        summary = api.project_summary(seeded.project)
    with tab(chromium) as page:
        page.goto(f"{console.url}/projects/{seeded.project}")
        assert page.url.startswith(f"{console.url}/sign-in?next=")
        assert violations(page) == []
        picture(page, "sign-in")
        page.get_by_label("API token").fill(seeded.viewer_token)
        page.keyboard.press("Enter")  # keyboard use: the form submits without a mouse
        page.wait_for_url(f"{console.url}/projects/{seeded.project}")
        assert page.locator('[data-field="models"]').inner_text() == str(summary.model_count)
        assert violations(page) == []
        picture(page, "project")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        page.wait_for_url(f"{console.url}/")
        assert violations(page) == []
        page.get_by_role("link", name=seeded.project, exact=True).click()
        page.wait_for_url(f"{console.url}/projects/{seeded.project}")

        page.get_by_role("link", name="scorer", exact=True).click()
        page.wait_for_url(f"{console.url}/projects/{seeded.project}/models/scorer")
        assert violations(page) == []
        picture(page, "model")
        page.get_by_role("link", name=f"{seeded.project}/scorer:3").click()
        page.wait_for_url(f"{console.url}/projects/{seeded.project}/models/scorer/versions/3")
        bars = page.locator("svg.chart g.bar")
        expect(bars).to_have_count(15)  # retried until the page has loaded, with a deadline
        expected = sorted(IMPORTANCE.items(), key=lambda item: (-item[1], item[0]))
        assert bars.first.get_attribute("data-label") == expected[0][0]
        widths = [
            float(w)
            for w in page.locator("svg.chart g.bar rect").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")
        ]
        assert widths == sorted(widths, reverse=True) and widths[0] > 0
        assert violations(page) == []
        picture(page, "version")
        page.get_by_role("link", name="Show all 20").click()
        expect(page.locator("svg.chart g.bar")).to_have_count(20)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{console.url}/sign-in")
        assert seeded.viewer_token not in page.content()


def test_requests_are_counted_by_route_template_not_by_path(console: HttpServiceProcess, seeded: Seeded) -> None:
    with signed_in(console, seeded.viewer_token) as browser:
        browser.get(f"/projects/{seeded.project}/models/scorer/versions/1")
        browser.get(f"/projects/{seeded.project}/models/scorer/versions/2")
    metrics = httpx.get(console.metrics_url).text
    route = "/projects/{project}/models/{model}/versions/{version:int}"
    counted = re.search(rf'modelyard_console_requests_total\{{code="200",route="{re.escape(route)}"\}} (\S+)', metrics)
    assert counted is not None and float(counted[1]) >= 2
    assert seeded.project not in metrics  # no label per path: bounded


def test_the_audit_page_tails_new_events_in_the_browser_without_breaking_its_policy(
    console: HttpServiceProcess, seeded: Seeded, chromium: Browser, auth_metadata: ServiceProcess
) -> None:
    """static/live.js under the page's real Content-Security-Policy: an event made after the page
    loaded appears at the top, its user text as text."""
    with tab(chromium, real_policy=True) as page:
        sign_in(page, console, seeded.admin_token, f"/audit?project={seeded.project}")
        page.wait_for_selector("[data-live-status]:has-text('Live')")
        with modelyard.connect(auth_metadata.target, token=seeded.admin_token) as admin:
            changed = admin.transition_stage(f"{seeded.project}/ranker:1", "ARCHIVED", reason="<b>retired</b> early")
        assert changed.stage.value == "ARCHIVED"
        newest = page.locator("tbody[data-live-audit] tr").first
        newest.locator("td", has_text="version.stage").wait_for(timeout=30_000)
        assert "<b>retired</b> early" in newest.inner_text()  # shown as text, not markup


def test_a_form_heavier_than_any_page_takes_is_refused_before_it_is_read(
    console: HttpServiceProcess, seeded: Seeded
) -> None:
    with signed_in(console, seeded.viewer_token) as browser:
        answer = browser.post("/sign-out", content=b"csrf=" + b"x" * (2 * 1024 * 1024))
        still = browser.get("/")
    assert answer.status_code == 413 and "at most 1048576 bytes" in answer.text
    assert still.status_code == 200  # refused, so the session was not ended
