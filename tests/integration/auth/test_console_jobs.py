"""The console's batch scoring job pages against the real platform with authentication on (the
deploy service runs the jobs with real predictor workers): a project's jobs with their state,
progress and output, a job's page, its Cancel form (a viewer refused with the service's
message, the project's admin cancelling a running job), and a running job followed live in a
real browser until it has scored every row, checked by axe."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from auth_sessions import AuthTokens, Platform
from console_browser import followed, marked_text, picture, post_form, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, expect
from scoring_jobs import push_parquet, push_summer, until

import modelyard
import modelyard.errors
from modelyard import JobState
from modelyard_common.embedded.service import HttpServiceProcess


@dataclass(frozen=True)
class Team:
    """A project, its ADMIN and a viewer: their clients of the platform and their tokens."""

    project: str
    owner: modelyard.Client
    viewer: modelyard.Client
    owner_token: str
    viewer_token: str


@pytest.fixture
def team(platform: Platform, auth_tokens: AuthTokens) -> Iterator[Team]:
    suffix = uuid.uuid4().hex[:8]
    project, tokens = f"jobs-{suffix}", {}
    with platform.client(auth_tokens.admin) as admin:
        for who in ("owner", "viewer"):
            admin.create_principal(f"{who}-{suffix}")
            tokens[who] = admin.create_token(f"{who}-{suffix}", description="console jobs").secret
    with platform.client(tokens["owner"]) as owner, platform.client(tokens["viewer"]) as viewer:
        owner.create_project(project)
        owner.set_project_role(project, f"viewer-{suffix}", "viewer")
        yield Team(project, owner, viewer, tokens["owner"], tokens["viewer"])


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-job="([^"]*)">(.*?)</tr>', html, re.S))


def test_the_jobs_section_and_a_jobs_page_show_its_state_progress_and_output(
    platform_console: HttpServiceProcess, team: Team, tmp_path: Path
) -> None:
    model = push_summer(team.owner, f"{team.project}/summer", tmp_path / "model")
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    job = team.owner.create_job(model, dataset=dataset, key="id", output=f"{team.project}/sums", chunk_rows=400)
    done = team.owner.wait_job(job.id, timeout=120)
    assert done.state is JobState.SUCCEEDED
    with signed_in(platform_console, team.viewer_token) as browser:
        listing = browser.get(f"/projects/{team.project}/jobs")
        page = browser.get(f"/projects/{team.project}/jobs/{job.id}")
    assert listing.status_code == page.status_code == 200
    row = _rows(listing.text)[job.id]
    assert marked_text(row, 'class="state state-available" data-field="state"') == "SUCCEEDED"
    assert re.search(r'<span data-live="rows_done">1000</span>/<span data-live="rows_total">1000</span> rows', row)
    assert re.search(r'<span data-live="chunks_done">3</span>/<span data-live="chunks_total">3</span> chunks', row)
    output = f'href="/projects/{team.project}/datasets/sums/versions/1">{done.output_version}</a>'
    assert output in row and output in page.text
    assert 'value="1000"' in page.text and "data-live-job" not in page.text  # finished: nothing to follow
    assert "Cancel the job" not in page.text
    assert f'href="/projects/{team.project}/models/summer/versions/1">{done.version_reference}</a>' in page.text


def test_a_viewer_is_refused_the_cancel_and_the_admin_cancels_a_running_job(
    platform_console: HttpServiceProcess, team: Team, tmp_path: Path
) -> None:
    model = push_summer(team.owner, f"{team.project}/slow", tmp_path / "model", sleep=2.0)
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    job = team.owner.create_job(model, dataset=dataset, key="id", output=f"{team.project}/out", chunk_rows=100)
    page = f"/projects/{team.project}/jobs/{job.id}"
    try:
        with pytest.raises(modelyard.errors.PermissionDeniedError) as refused:
            team.viewer.cancel_job(job.id)
        with signed_in(platform_console, team.viewer_token) as browser:
            answer = post_form(browser, page, f"{page}/cancel", {"reason": "mine"})
        assert answer.status_code == 403
        shown = re.search(r'data-refused="cancel">Refused: ([^<]*)</p>', answer.text)
        assert shown and unescape(shown[1]) == refused.value.message
        assert 'name="reason" size="40" value="mine"' in answer.text
        assert not team.owner.get_job(job.id).state.finished
        with signed_in(platform_console, team.owner_token) as browser:
            _, notice = followed(browser, post_form(browser, page, f"{page}/cancel", {"reason": "wrong input"}))
        assert re.fullmatch(r"The job is CANCELL(ING|ED): nothing of its output is kept\.", notice)
    finally:
        ended = until(lambda: team.owner.get_job(job.id), lambda j: j.state.finished)
    assert ended.state is JobState.CANCELLED and ended.output_version == ""


def test_in_the_browser_a_running_jobs_progress_is_followed_live_until_it_succeeds_without_axe_violations(
    platform_console: HttpServiceProcess, team: Team, tmp_path: Path, chromium: Browser
) -> None:
    model = push_summer(team.owner, f"{team.project}/steady", tmp_path / "model", sleep=0.3)
    dataset = push_parquet(team.owner, f"{team.project}/input", tmp_path / "data")
    job = team.owner.create_job(model, dataset=dataset, key="id", output=f"{team.project}/live", chunk_rows=100)
    with tab(chromium) as page:
        sign_in(page, platform_console, team.viewer_token, f"/projects/{team.project}")
        page.get_by_role("navigation", name=f"Project {team.project}").get_by_role("link", name="Jobs").click()
        assert violations(page) == []
        page.locator(f'tr[data-job="{job.id}"] th a').click()
        expect(page.get_by_role("heading", name=f"Batch scoring job {job.id[:8]}")).to_be_visible()
        assert page.locator('[data-live="state"]').inner_text() in ("QUEUED", "RUNNING")  # loaded unfinished
        assert violations(page) == []
        expect(page.locator('[data-live="state"]')).to_have_text("SUCCEEDED", timeout=120_000)
        expect(page.locator('[data-live="rows_done"]')).to_have_text("1000")
        expect(page.locator('[data-live="output"]')).to_have_text(f"{team.project}/live:1")
        expect(page.locator("[data-live-status]")).to_contain_text("The job has finished.")
        expect(page.get_by_role("button", name="Cancel the job")).to_be_hidden()
        assert violations(page) == []
        picture(page, "job")
