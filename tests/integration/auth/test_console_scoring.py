"""The console's scoring pages against a real metadata service with authentication on and a
registry (no deploy service: these tests lease the runs themselves with the deploy service's
token and record their results, as the deploy service does): a project's scoring section with
each test's last run, a test's page with its runs and chart, a run's page with its metrics held
or failed against the thresholds and its confusion matrix, "Run now" by an editor (a viewer
refused with the service's message), the schedule and activity forms, the model's panel and the
version page's gates, each checked against the API; and the pages in a real browser, by axe."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_sessions import AuthTokens
from console_browser import (
    console_process,
    followed,
    marked_text,
    picture,
    post_form,
    sign_in,
    signed_in,
    tab,
    violations,
)
from playwright.sync_api import Browser, expect

import modelyard
import modelyard.errors
from modelyard import ScoringRun, ScoringRunState
from modelyard.internal import InternalCalls
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess
from modelyard_console.pages._scoring_views import RECENT_RUNS

CUSTOMERS = "tenure,monthly,churned\n12,29.9,0\n3,49.5,1\n40,19.0,0\n"
PASSING = {
    "accuracy": 0.9,
    "f1": 0.85,
    "confusion_matrix": {"labels": ["0", "1"], "matrix": [[5, 1], [0, 4]]},
}
FAILING = {"accuracy": 0.7, "f1": 0.6, "confusion_matrix": {"labels": ["0", "1"], "matrix": [[3, 3], [0, 4]]}}


@dataclass(frozen=True)
class Scored:
    """Project ``project``: model churn (versions 1 and 2), dataset customers:1, a definition
    (accuracy at least 0.8), test ``test_id`` (holdout: version 1, gating VALIDATION, trusting a
    forest's trees) whose run
    on version 1 PASSED (``passed``) and on version 2 FAILED (``failed``)."""

    metadata: ServiceProcess
    registry: ServiceProcess
    console: HttpServiceProcess
    owner: str  # tokens: the project's ADMIN, an editor, a viewer, one without a role; the deploy service's
    editor: str
    viewer: str
    stranger: str
    deploy: str
    project: str
    test_id: str
    passed: ScoringRun
    failed: ScoringRun

    def client(self, token: str) -> modelyard.Client:
        return modelyard.connect(self.metadata.target, token=token)

    @property
    def test_page(self) -> str:
        return f"/projects/{self.project}/scoring/tests/{self.test_id}"

    def run_page(self, run: ScoringRun) -> str:
        return f"/projects/{self.project}/scoring/runs/{run.id}"


def _score(runner: InternalCalls[Any], run_id: str, metrics: dict[str, Any], timeout: float = 30) -> ScoringRun:
    """Leases run ``run_id`` as the deploy service does and records ``metrics`` for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for claimed in runner.claim_scoring_runs("console-tests", 100, 60):
            if claimed.run.id == run_id:
                return runner.record_scoring_result(
                    run_id, "console-tests", claimed.attempt, metrics=metrics, rows=10, duration_seconds=1.5
                )
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} was not leased within {timeout} s")


@pytest.fixture(scope="module")
def scored(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    seaweedfs: EmbeddedSeaweedFS,
    auth_tokens: AuthTokens,
    launch_metadata: Callable[..., ServiceProcess],
    registry_config: Callable[..., dict[str, str]],
) -> Iterator[Scored]:
    dsn = postgres.create_database(f"console_scoring_{uuid.uuid4().hex[:8]}")
    metadata = launch_metadata(
        tmp_path_factory.mktemp("scoring-metadata"), dsn, redis_server.url, **auth_tokens.metadata_settings()
    )
    registry = ServiceProcess(
        "registry",
        "modelyard_registry",
        tmp_path_factory.mktemp("scoring-registry"),
        registry_config(
            seaweedfs,
            dsn,
            metadata,
            s3_bucket=f"console-scoring-{uuid.uuid4().hex[:8]}",
            auth_token=auth_tokens.registry,
            auth_enabled="true",
        ),
    )
    registry.start()
    suffix = uuid.uuid4().hex[:8]
    project, tokens = f"scored-{suffix}", {}
    with modelyard.connect(metadata.target, token=auth_tokens.admin) as platform_admin:
        for who in ("owner", "editor", "viewer", "stranger"):
            platform_admin.create_principal(f"{who}-{suffix}")
            tokens[who] = platform_admin.create_token(f"{who}-{suffix}", description="console scoring").secret
    folder = tmp_path_factory.mktemp("scoring-files")
    (folder / "customers.csv").write_text(CUSTOMERS)
    model = f"{project}/churn"
    with (
        modelyard.connect(metadata.target, registry=registry.target, token=tokens["owner"]) as owner,
        modelyard.connect(metadata.target, token=auth_tokens.deploy) as deploy,
    ):
        owner.create_project(project)
        owner.set_project_role(project, f"editor-{suffix}", "editor")
        owner.set_project_role(project, f"viewer-{suffix}", "viewer")
        owner.create_model(model)
        for weight in (1, 2):
            (folder / "model.json").write_text(f'{{"weights": [{weight}, 2]}}')
            owner.push(model, folder / "model.json")
        owner.create_dataset(f"{project}/customers")
        dataset = owner.push_dataset(f"{project}/customers", folder / "customers.csv")
        owner.set_score_definition(
            model,
            task="classification",
            inputs={"features": ["tenure", "monthly"]},
            label_column="churned",
            metrics=["accuracy", "f1", "confusion_matrix"],
            thresholds={"accuracy": (0.8, None)},
        )
        test = owner.create_scoring_test(
            model,
            "holdout",
            dataset=dataset.reference,
            version=1,
            required_for=["validation"],
            trusted_types=["sklearn.tree._tree.Tree"],
        )
        runner = InternalCalls(deploy)
        passed = _score(runner, owner.run_scoring_test(test.id).id, PASSING)
        failed = _score(runner, owner.run_scoring_test(test.id, version=2).id, FAILING)
    assert (passed.state, failed.state) == (ScoringRunState.PASSED, ScoringRunState.FAILED)
    try:
        folder = tmp_path_factory.mktemp("scoring-console")
        with console_process(folder, metadata.target, redis_server.url, registry_addr=registry.target) as console:
            yield Scored(
                metadata,
                registry,
                console,
                tokens["owner"],
                tokens["editor"],
                tokens["viewer"],
                tokens["stranger"],
                auth_tokens.deploy,
                project,
                test.id,
                passed,
                failed,
            )
    finally:
        registry.stop()
        metadata.stop()


def _refusal(html: str, form: str) -> str:
    shown = re.search(rf'data-refused="{form}">Refused: ([^<]*)</p>', html)
    assert shown, f"no refusal beside the {form} form"
    return unescape(shown[1])


def _rows(html: str, marker: str) -> dict[str, str]:
    """The rows carrying ``marker`` (an attribute), by its value: their HTML, in page order."""
    return dict(re.findall(rf'<tr {marker}="([^"]*)">(.*?)</tr>', html, re.S))


def test_the_scoring_section_lists_each_test_with_its_target_gate_and_last_run(scored: Scored) -> None:
    with scored.client(scored.viewer) as api:
        (test,) = api.list_scoring_tests(scored.project)
    assert test.last_run is not None
    with signed_in(scored.console, scored.viewer) as browser:
        project = browser.get(f"/projects/{scored.project}")
        listing = browser.get(f"/projects/{scored.project}/scoring")
    assert f'href="/projects/{scored.project}/scoring">Scoring</a>' in project.text
    assert listing.status_code == 200
    row = _rows(listing.text, "data-test")[test.id]
    assert marked_text(row, 'data-field="target"') == "version 1"
    assert re.search(r'data-field="gate"><span class="stage stage-validation">VALIDATION</span>', row)
    assert marked_text(row, 'class="state state-failed" data-field="state"') == test.last_run.state.value == "FAILED"
    assert f'href="{scored.test_page}">holdout</a>' in row
    assert f'href="/projects/{scored.project}/datasets/customers/versions/1">{test.dataset}</a>' in row


def test_the_test_page_shows_the_definition_its_runs_newest_first_and_a_metric_over_them(scored: Scored) -> None:
    with scored.client(scored.viewer) as api:
        runs = list(api.list_scoring_runs(test_id=scored.test_id))
    with signed_in(scored.console, scored.viewer) as browser:
        page = browser.get(scored.test_page).text
        f1 = browser.get(f"{scored.test_page}?metric=f1").text
    assert list(_rows(page, "data-run")) == [run.id for run in runs]
    failed = _rows(page, "data-run")[scored.failed.id]
    assert marked_text(failed, 'data-field="trigger"') == "manual"
    assert marked_text(failed, 'data-metric="accuracy"') == "0.7"
    assert unescape(marked_text(page, 'data-field="thresholds"')) == "accuracy ≥ 0.8"
    assert unescape(marked_text(page, 'data-field="inputs"')) == "features ← tenure, monthly"
    assert '<dd data-field="trusted-types"><code>sklearn.tree._tree.Tree</code></dd>' in page
    points = [(m[0], m[1]) for m in re.findall(r'<circle class="point" data-x="([^"]*)" data-y="([^"]*)"', page)]
    assert points == [("1", "0.9"), ("2", "0.7")]  # accuracy, the first metric by name, oldest run first
    assert re.findall(r'data-y="([^"]*)"', f1) == ["0.85", "0.6"]


def test_a_run_page_shows_its_metrics_against_the_thresholds_and_its_confusion_matrix(scored: Scored) -> None:
    with signed_in(scored.console, scored.viewer) as browser:
        passed = browser.get(scored.run_page(scored.passed)).text
        failed = browser.get(scored.run_page(scored.failed)).text
    accuracy = _rows(passed, "data-metric-row")["accuracy"]
    assert marked_text(accuracy, 'data-field="value"') == "0.9"
    assert unescape(marked_text(accuracy, 'data-field="threshold"')) == "≥ 0.8"
    assert marked_text(accuracy, 'class="state state-available"') == "held"
    assert marked_text(_rows(passed, "data-metric-row")["f1"], 'data-field="held"') == "no threshold"
    cells = dict(re.findall(r'data-cell="([^"]*)">([0-9]+)</td>', passed))
    assert cells == {"0/0": "5", "0/1": "1", "1/0": "0", "1/1": "4"}
    assert "true 0" in passed and "predicted 1" in passed
    assert marked_text(passed, 'data-field="rows"') == "10"
    assert f'href="/projects/{scored.project}/models/churn/versions/1">{scored.project}/churn:1</a>' in passed

    assert marked_text(_rows(failed, "data-metric-row")["accuracy"], 'class="state state-failed"') == "failed"
    assert unescape(marked_text(failed, 'data-field="message"')) == scored.failed.message
    assert "accuracy" in scored.failed.message
    assert dict(re.findall(r'data-cell="([^"]*)">([0-9]+)</td>', failed))["0/1"] == "3"


def test_run_now_by_an_editor_queues_a_run_and_a_viewer_gets_the_services_refusal(scored: Scored) -> None:
    action = f"{scored.test_page}/run"
    with signed_in(scored.console, scored.editor) as browser:
        html, notice = followed(browser, post_form(browser, scored.test_page, action, {"version": "2"}))
        mistyped = post_form(browser, scored.test_page, action, {"version": "2a"})
    with scored.client(scored.editor) as api:
        newest = next(iter(api.list_scoring_runs(test_id=scored.test_id)))
    assert notice == f"Run {newest.id} of holdout on version 2 is queued."
    assert (newest.state, newest.trigger, newest.model_version) == (
        ScoringRunState.QUEUED,
        "manual",
        f"{scored.project}/churn:2",
    )
    assert next(iter(_rows(html, "data-run"))) == newest.id
    assert mistyped.status_code == 400 and _refusal(mistyped.text, "run") == "version: '2a' is not a version number"
    assert 'name="version" inputmode="numeric" value="2a"' in mistyped.text

    with scored.client(scored.viewer) as api, pytest.raises(modelyard.errors.PermissionDeniedError) as refused:
        api.run_scoring_test(scored.test_id, version=1)
    with signed_in(scored.console, scored.viewer) as browser:
        answer = post_form(browser, scored.test_page, action, {"version": "1"})
    assert answer.status_code == 403
    assert _refusal(answer.text, "run") == refused.value.message
    assert 'name="version" inputmode="numeric" value="1"' in answer.text
    with scored.client(scored.viewer) as api:
        assert next(iter(api.list_scoring_runs(test_id=scored.test_id))).id == newest.id  # nothing queued
    with scored.client(scored.deploy) as deploy:
        _score(InternalCalls(deploy), newest.id, FAILING)  # leaves the test's last run as it was


def test_the_schedule_and_activity_forms_change_the_test_or_show_the_refusal_keeping_what_was_typed(
    scored: Scored,
) -> None:
    with scored.client(scored.editor) as api:
        with pytest.raises(modelyard.errors.InvalidArgumentError) as bad_cron:
            api.update_scoring_test(scored.test_id, schedule="every day")
        with pytest.raises(modelyard.errors.PermissionDeniedError) as gated:
            api.update_scoring_test(scored.test_id, active=False)  # a gated test: its project's ADMIN only

    def send(browser: httpx.Client, form: str, fields: dict[str, str | list[str]]) -> httpx.Response:
        return post_form(browser, scored.test_page, f"{scored.test_page}/{form}", fields)

    with signed_in(scored.console, scored.editor) as browser:
        refused = send(browser, "schedule", {"schedule": "every day", "reason": "nightly"})
        _, notice = followed(browser, send(browser, "schedule", {"schedule": "0 3 * * *", "reason": "nightly"}))
        deactivated = send(browser, "active", {"active": "false", "reason": "noisy"})
    assert refused.status_code == 400 and _refusal(refused.text, "schedule") == bad_cron.value.message
    assert 'name="schedule" value="every day"' in refused.text and 'value="nightly"' in refused.text
    assert notice == "The test runs on the schedule 0 3 * * * (UTC)."
    assert deactivated.status_code == 403 and _refusal(deactivated.text, "active") == gated.value.message
    assert 'name="reason" size="40" value="noisy"' in deactivated.text
    with signed_in(scored.console, scored.owner) as browser:
        _, off = followed(browser, send(browser, "active", {"active": "false"}))
        _, on = followed(browser, send(browser, "active", {"active": "true"}))
        _, cleared = followed(browser, send(browser, "schedule", {"schedule": ""}))
    assert off == "The test is inactive: it runs only on request and gates nothing."
    assert on == "The test is active: it runs on its events and schedule."
    assert cleared == "The test has no schedule now."
    with scored.client(scored.viewer) as api:
        test = api.get_scoring_test(scored.test_id)
        reasons = {e.reason for e in api.audit_events(project=scored.project, limit=20)}
    assert (test.schedule, test.active) == ("", True) and "nightly" in reasons


def test_the_model_page_has_a_scoring_panel_and_a_version_page_its_runs_and_gates(scored: Scored) -> None:
    model = f"/projects/{scored.project}/models/churn"
    with signed_in(scored.console, scored.viewer) as browser:
        panel = browser.get(model).text
        one, two = (browser.get(f"{model}/versions/{n}").text for n in (1, 2))
    assert marked_text(panel, 'data-field="task"') == "CLASSIFICATION"
    assert marked_text(panel, 'data-field="label"') == "churned"
    assert re.search(rf'<li data-test="{scored.test_id}"><a href="{re.escape(scored.test_page)}">holdout</a>', panel)
    assert marked_text(one, 'class="state state-available"') == "yes"
    assert scored.passed.id in _rows(one, "data-run") and scored.failed.id not in _rows(one, "data-run")
    gate = _rows(two, "data-gate")["VALIDATION/holdout"]
    assert re.search(r'data-field="passed"><span class="state state-failed">no</span> a move to VALIDATION', gate)
    with scored.client(scored.owner) as api, pytest.raises(modelyard.errors.FailedPreconditionError) as held:
        api.transition_stage(f"{scored.project}/churn:2", "validation")
    assert "'holdout'" in held.value.message


def test_a_version_page_lists_its_newest_runs_and_gates_on_a_pass_older_than_them(
    scored: Scored, tmp_path: Path
) -> None:
    model = f"{scored.project}/bounded"
    (tmp_path / "model.json").write_text('{"weights": [3]}')
    with (
        modelyard.connect(scored.metadata.target, registry=scored.registry.target, token=scored.owner) as owner,
        scored.client(scored.deploy) as deploy,
    ):
        owner.push(model, tmp_path / "model.json")
        owner.set_score_definition(
            model, task="classification", inputs={"features": ["tenure"]}, label_column="churned"
        )
        test = owner.create_scoring_test(
            model, "gate", dataset=f"{scored.project}/customers:1", version=1, required_for=["validation"]
        )
        passed = _score(InternalCalls(deploy), owner.run_scoring_test(test.id).id, PASSING)
        queued = [owner.run_scoring_test(test.id).id for _ in range(RECENT_RUNS + 5)]
    with signed_in(scored.console, scored.viewer) as browser:
        page = browser.get(f"/projects/{scored.project}/models/bounded/versions/1").text

    assert list(_rows(page, "data-run")) == queued[::-1][:RECENT_RUNS]
    assert marked_text(page, 'data-runs="more"').startswith(f"The newest {RECENT_RUNS} runs;")
    gate = _rows(page, "data-gate")["VALIDATION/gate"]
    assert re.search(r'data-field="passed"><span class="state state-available">yes</span>', gate)  # its oldest run
    assert f"/scoring/runs/{queued[-1]}" in gate and passed.id not in page


def test_a_stranger_gets_the_services_refusal_and_nothing_of_the_tests_and_runs(scored: Scored) -> None:
    with scored.client(scored.stranger) as api:
        with pytest.raises(modelyard.errors.ModelyardError) as listing_refused:
            api.list_scoring_tests(scored.project)
        with pytest.raises(modelyard.errors.NotFoundError) as test_refused:
            api.get_scoring_test(scored.test_id)
    with signed_in(scored.console, scored.stranger) as browser:
        listing = browser.get(f"/projects/{scored.project}/scoring")
        test = browser.get(scored.test_page)
        run = browser.get(scored.run_page(scored.passed))
        elsewhere = browser.get(f"/projects/other/scoring/runs/{scored.passed.id}")
    assert listing.status_code in (403, 404) and test.status_code == run.status_code == elsewhere.status_code == 404
    alerts = [unescape(marked_text(page.text, 'class="error" role="alert"')) for page in (listing, test)]
    assert alerts == [listing_refused.value.message, test_refused.value.message]
    for page in (listing, test, run, elsewhere):  # the ids the URLs named are all they echo
        body = page.text.split("</header>")[1].replace(scored.test_id, "").replace(scored.passed.id, "")
        assert "holdout" not in body and "churn" not in body and "scoring/tests/" not in body, body


def test_in_the_browser_the_test_and_run_pages_are_reached_from_the_project_without_axe_violations(
    scored: Scored, chromium: Browser
) -> None:
    with tab(chromium) as page:
        sign_in(page, scored.console, scored.viewer, f"/projects/{scored.project}")
        page.get_by_role("navigation", name=f"Project {scored.project}").get_by_role("link", name="Scoring").click()
        assert violations(page) == []
        page.get_by_role("link", name="holdout").click()
        expect(page.get_by_role("heading", name="Scoring test holdout")).to_be_visible()
        assert violations(page) == []
        picture(page, "scoring-test")
        page.locator(f'tr[data-run="{scored.passed.id}"] th a').click()
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible()
        expect(page.locator('[data-cell="1/1"]')).to_have_text("4")
        assert violations(page) == []
        picture(page, "scoring-run")
