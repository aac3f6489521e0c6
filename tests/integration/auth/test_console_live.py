"""The console's live pages against real services with authentication on: the audit log and its
Server-Sent Events tail, a deployment's pages (in a real browser too), its change forms and its
"try it" form, each checked against what the API says."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import httpx
import numpy as np
import pytest
from auth_sessions import AuthTokens, Platform
from classifiers import FEATURES, push_classifier
from console_browser import console_process, form_field, picture, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, expect
from prometheus_client.parser import text_string_to_metric_families

from modelyard.errors import PermissionDeniedError
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import HttpServiceProcess

TIMEOUT = 120.0


@dataclass(frozen=True)
class Crew:
    project: str
    owner_token: str  # ADMIN of the project
    viewer_token: str
    deployment: str  # serving version 1 of PROJECT/scorer, AVAILABLE; version 2 exists too


@pytest.fixture(scope="module")
def crew(platform: Platform, auth_tokens: AuthTokens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crew]:
    suffix = uuid.uuid4().hex[:8]
    project, deployment = f"live-{suffix}", f"scorer-{suffix}"
    tokens = {}
    with platform.client(auth_tokens.admin) as admin:
        for who in ("owner", "viewer"):
            admin.create_principal(f"{who}-{suffix}")
            tokens[who] = admin.create_token(f"{who}-{suffix}", description="console live tests").secret
    with platform.client(tokens["owner"]) as owner:
        owner.create_project(project)
        owner.set_project_role(project, f"viewer-{suffix}", "viewer")
        folder = tmp_path_factory.mktemp("live-models")
        first = push_classifier(owner, f"{project}/scorer", folder / "v1")
        push_classifier(owner, f"{project}/scorer", folder / "v2", flip=True)
        owner.deploy(deployment, first)
        owner.wait_deployment(deployment, timeout=TIMEOUT)
        yield Crew(project, tokens["owner"], tokens["viewer"], deployment)
        owner.delete_deployment(deployment)


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, platform: Platform, redis_server: EmbeddedRedis
) -> Iterator[HttpServiceProcess]:
    """A console told the deploy service's address (this metadata service was started before the
    deploy service, so it cannot announce it)."""
    folder, deploy = tmp_path_factory.mktemp("console-live"), platform.deploy.target
    with console_process(folder, platform.metadata.target, redis_server.url, deploy_addr=deploy) as service:
        yield service


def _live(html: str, name: str) -> str:
    found = re.search(rf'data-live="{name}"[^>]*>([^<]*)<', html)
    assert found, f"no live field {name}"
    return unescape(found[1])


def _sse(lines: Iterator[str], wanted: str, deadline: float) -> dict[str, object]:
    """The data of the next SSE message of event ``wanted``; comment lines and other events are
    skipped. The stream's read timeout bounds each wait, ``deadline`` the whole."""
    event = ""
    for line in lines:
        assert time.monotonic() < deadline, f"no {wanted} event in time"
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == wanted:
            data: dict[str, object] = json.loads(line.removeprefix("data: "))
            return data
    raise AssertionError(f"the stream ended before a {wanted} event")


def _watches(platform: Platform) -> float:
    """WatchEvents calls the metadata service is serving now."""
    families = text_string_to_metric_families(httpx.get(platform.metadata.metrics_url, timeout=5).text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "modelyard_rpc_in_flight" and sample.labels.get("method") == "WatchEvents"
    )


def test_the_audit_page_lists_the_apis_events_newest_first(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    with signed_in(console, crew.viewer_token) as browser, platform.client(crew.viewer_token) as api:
        everything = browser.get("/audit", params={"project": crew.project})
        models = browser.get("/audit", params={"project": crew.project, "action": "version."})
        events = list(api.audit_events(project=crew.project, limit=100))
        elsewhere = browser.get("/audit", params={"project": "not-" + crew.project})
        everywhere = browser.get("/audit")
        tail_elsewhere = browser.get("/audit/stream", params={"project": "not-" + crew.project})
        with pytest.raises(PermissionDeniedError) as denied:
            next(iter(api.audit_events()))

    assert everything.status_code == 200
    listed = [int(i) for i in re.findall(r'<tr data-event="(\d+)">', everything.text)]
    # The deployment's events keep arriving (the deploy service forwards them): those after the page was read aside.
    assert listed and listed == [e.id for e in events if e.id <= listed[0]]
    shown = [int(i) for i in re.findall(r'<tr data-event="(\d+)">', models.text)]
    assert shown == [e.id for e in events if e.action.startswith("version.")] and shown
    assert "script-src 'self'" in everything.headers["content-security-policy"]
    assert '<script src="/static/live.js" defer></script>' in everything.text
    assert crew.viewer_token not in everything.text
    # The service's refusals, with its own message above the filters; no tail of what may not be read.
    assert (elsewhere.status_code, tail_elsewhere.status_code, everywhere.status_code) == (403, 403, 403)
    message = re.search(r'data-refused="audit">([^<]*)<', everywhere.text)
    assert message is not None and unescape(message[1]) == denied.value.message
    assert "data-live-audit" not in everywhere.text and '<input id="project" name="project"' in everywhere.text


def test_the_audit_stream_delivers_an_event_made_after_it_opened_and_ends_with_the_client(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    before = _watches(platform)
    with signed_in(console, crew.owner_token) as browser, platform.client(crew.owner_token) as api:
        page = browser.get("/audit", params={"project": crew.project, "action": "model."})
        stream = unescape(re.search(r'data-live-audit="([^"]*)"', page.text)[1])  # type: ignore[index]
        deadline = time.monotonic() + 30
        with browser.stream("GET", stream, timeout=httpx.Timeout(30, read=20)) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            api.create_model(f"{crew.project}/made-later", description="while watching")
            lines = answer.iter_lines()  # kept: a generator dropped would close the connection
            event = _sse(lines, "audit", deadline)
            assert _watches(platform) == before + 1
        made = [e.id for e in api.audit_events(project=crew.project, resource=f"{crew.project}/made-later")]
    assert (event["action"], event["resource"], [event["id"]]) == ("model.create", f"{crew.project}/made-later", made)
    while _watches(platform) != before:  # the console ends its watch once the browser is gone
        assert time.monotonic() < deadline, "the console still watches for a browser that left"
        time.sleep(0.2)


def test_the_deployment_pages_show_the_apis_state_and_replicas(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    with signed_in(console, crew.viewer_token) as browser, platform.client(crew.viewer_token) as api:
        listing = browser.get("/deployments", params={"project": crew.project})
        page = browser.get(f"/deployments/{crew.deployment}")
        deployment = api.get_deployment(crew.deployment)
        revisions = api.deployment_revisions(crew.deployment)

    row = re.search(rf'<tr data-deployment="{crew.deployment}">(.*?)</tr>', listing.text, re.S)
    assert row is not None
    assert re.search(r'data-field="state">([^<]*)<', row[1])[1] == str(deployment.state) == "AVAILABLE"  # type: ignore[index]
    assert re.search(r'data-field="ready">([^<]*)<', row[1])[1] == "1/1"  # type: ignore[index]
    assert _live(page.text, "state") == str(deployment.state)
    assert _live(page.text, "ready") == f"{deployment.ready_replicas}/{deployment.replicas}"
    assert _live(page.text, "version") == deployment.version_reference
    assert re.findall(r'<tr data-replica="([^"]*)">', page.text) == [r.id for r in deployment.replica_status]
    assert [int(r) for r in re.findall(r'<tr data-revision="(\d+)">', page.text)] == [r.revision for r in revisions]
    assert f'data-live-deployment="/deployments/{crew.deployment}/stream"' in page.text


def test_the_deployment_stream_sends_its_status(console: HttpServiceProcess, crew: Crew) -> None:
    with (
        signed_in(console, crew.viewer_token) as browser,
        browser.stream("GET", f"/deployments/{crew.deployment}/stream", timeout=httpx.Timeout(30, read=20)) as answer,
    ):
        status = _sse(answer.iter_lines(), "deployment", time.monotonic() + 30)
    assert (status["state"], status["ready"]) == ("AVAILABLE", "1/1")
    assert [replica["state"] for replica in status["replicas"]] == ["READY"]  # type: ignore[attr-defined]


def test_in_the_browser_the_deployment_pages_show_the_apis_state_and_follow_it_live(
    console: HttpServiceProcess, crew: Crew, platform: Platform, chromium: Browser
) -> None:
    with platform.client(crew.viewer_token) as api:
        deployment = api.get_deployment(crew.deployment)
    ready = f"{deployment.ready_replicas}/{deployment.replicas}"
    with tab(chromium) as page:
        sign_in(page, console, crew.viewer_token, f"/deployments?project={crew.project}")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=crew.deployment, exact=True))
        expect(row.locator('[data-field="state"]')).to_have_text(str(deployment.state))
        expect(row.locator('[data-field="ready"]')).to_have_text(ready)
        assert violations(page) == []

        row.get_by_role("link", name=crew.deployment, exact=True).click()
        page.wait_for_url(f"{console.url}/deployments/{crew.deployment}")
        status = page.get_by_role("region", name="Status")
        # live.js opened the deployment's stream and drew its first status over the server's.
        expect(status.locator("[data-live-status]")).to_have_text("Live: updates appear as they happen.")
        expect(status.locator('[data-live="state"]')).to_have_text(str(deployment.state))
        expect(status.locator('[data-live="ready"]')).to_have_text(ready)
        expect(status.locator('[data-live="version"]')).to_have_text(deployment.version_reference)
        replicas = status.locator("tr[data-replica]").evaluate_all("rows => rows.map(row => row.dataset.replica)")
        assert replicas == [replica.id for replica in deployment.replica_status]
        assert violations(page) == []
        picture(page, "deployment")


def test_try_it_shows_the_models_outputs_and_a_refused_input_inline(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    rows = FEATURES[:3]
    with signed_in(console, crew.viewer_token) as browser, platform.client(crew.viewer_token) as api:
        page = browser.get(f"/deployments/{crew.deployment}")
        csrf = form_field(page.text, "csrf")
        tried = browser.post(
            f"/deployments/{crew.deployment}/try", data={"csrf": csrf, "inputs": json.dumps({"input": rows.tolist()})}
        )
        expected = api.predict(crew.deployment, {"input": rows})
        wrong = browser.post(
            f"/deployments/{crew.deployment}/try", data={"csrf": csrf, "inputs": '{"input": [[1, 2]]}'}
        )
        broken = browser.post(f"/deployments/{crew.deployment}/try", data={"csrf": csrf, "inputs": '{"input": [['})

    assert tried.status_code == 200
    table = re.search(r'<table class="grid" data-output="predict_proba">(.*?)</table>', tried.text, re.S)
    assert table is not None
    cells = [float(value) for value in re.findall(r'<td class="num">([^<]*)</td>', table[1])]
    np.testing.assert_allclose(np.reshape(cells, (3, 2)), expected["predict_proba"], rtol=1e-5)
    labels = re.search(r'data-output="predict">(.*?)</table>', tried.text, re.S)
    assert labels is not None
    assert [int(v) for v in re.findall(r'<td class="num">([^<]*)</td>', labels[1])] == expected["predict"].tolist()
    for refused, words in ((wrong, "input"), (broken, "inputs: not JSON")):
        assert refused.status_code == 400
        message = re.search(r'data-refused="try">([^<]*)<', refused.text)
        assert message is not None and words in unescape(message[1])
    assert "{&#34;input&#34;: [[1, 2]]}" in wrong.text  # what was sent stays in the form


def test_a_viewers_change_is_refused_with_the_services_message(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    with platform.client(crew.viewer_token) as api, pytest.raises(PermissionDeniedError) as denied:
        api.update_deployment(crew.deployment, replicas=3, reason="more")
    with signed_in(console, crew.viewer_token) as browser:
        page = browser.get(f"/deployments/{crew.deployment}")
        answer = browser.post(
            f"/deployments/{crew.deployment}/scale",
            data={"csrf": form_field(page.text, "csrf"), "replicas": "3", "reason": "more"},
        )
    assert answer.status_code == 403
    message = re.search(r'data-refused="scale">([^<]*)<', answer.text)
    assert message is not None and unescape(message[1]) == denied.value.message
    with platform.client(crew.owner_token) as owner:
        assert owner.get_deployment(crew.deployment).replicas == 1


def test_roll_forward_scale_and_roll_back_through_the_forms(
    console: HttpServiceProcess, crew: Crew, platform: Platform
) -> None:
    name = crew.deployment
    with signed_in(console, crew.owner_token) as browser, platform.client(crew.owner_token) as api:
        csrf = form_field(browser.get(f"/deployments/{name}").text, "csrf")
        forward = browser.post(
            f"/deployments/{name}/roll-forward",
            data={"csrf": csrf, "reference": f"{crew.project}/scorer:2", "reason": "flipped labels <b>win</b>"},
        )
        assert (forward.status_code, forward.headers["location"]) == (303, f"/deployments/{name}")
        assert api.get_deployment(name).version_reference == f"{crew.project}/scorer:2"
        assert api.deployment_revisions(name)[0].reason == "flipped labels <b>win</b>"

        scaled = browser.post(f"/deployments/{name}/scale", data={"csrf": csrf, "replicas": "0", "reason": "quiet"})
        assert scaled.status_code == 303
        assert api.get_deployment(name).replicas == 0
        too_many = browser.post(f"/deployments/{name}/scale", data={"csrf": csrf, "replicas": "17", "reason": ""})
        assert too_many.status_code == 400 and "replicas" in too_many.text

        back = browser.post(f"/deployments/{name}/roll-back", data={"csrf": csrf, "revision": "0", "reason": "regress"})
        assert back.status_code == 303
        now = api.get_deployment(name)
        revisions = api.deployment_revisions(name)
        page = browser.get(f"/deployments/{name}")
    assert (now.version_reference, now.replicas) == (f"{crew.project}/scorer:1", 0)
    assert [(r.reason, r.actor) for r in revisions[:2]] == [
        ("regress", revisions[0].actor),
        ("flipped labels <b>win</b>", revisions[1].actor),
    ]
    assert "flipped labels &lt;b&gt;win&lt;/b&gt;" in page.text
    reasons = [unescape(r) for r in re.findall(r'data-field="reason">([^<]*)<', page.text)]
    assert reasons == [r.reason for r in revisions]
