"""Changes made through the console, against the real platform with authentication on: each one
shows in the API and the audit log afterwards with its reason, a viewer's or an overlong reason
is refused with the service's message, a POST without the CSRF token is refused; and what the
model and version pages draw and serve (metric charts, lineage, deployments, artifact
downloads), checked against the API. The stage and description forms are used in a real
browser too, by an editor and by a viewer."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest
from auth_sessions import AuthTokens, Platform
from console_browser import console_process, form_field, marked_text, picture, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, Locator, Page, expect

import modelyard.errors
from modelyard_common.embedded import EmbeddedRedis
from modelyard_common.embedded.service import HttpServiceProcess

FILES = {"model.bin": bytes(range(256)) * 4096, "conf/settings.json": b'{"threshold": 0.5}'}


@dataclass(frozen=True)
class Seeded:
    project: str
    model: str  # "project/model"
    owner: str  # tokens: the project's admin, an editor, a viewer
    editor: str
    viewer: str
    owner_name: str

    def page(self, version: int | None = None) -> str:
        project, model = self.model.split("/")
        path = f"/projects/{project}/models/{model}"
        return path if version is None else f"{path}/versions/{version}"


@pytest.fixture()
def seeded(platform: Platform, auth_tokens: AuthTokens, tmp_path: Path) -> Iterator[Seeded]:
    """A project with a model of three READY versions (accuracy logged at several steps), the
    third produced by the first; its admin, an editor and a viewer."""
    suffix = uuid.uuid4().hex[:8]
    project, names = f"changes-{suffix}", {who: f"{who}-{suffix}" for who in ("owner", "editor", "viewer")}
    tokens = {}
    with platform.client(auth_tokens.admin) as admin:
        for who, name in names.items():
            admin.create_principal(name)
            tokens[who] = admin.create_token(name, description="console changes tests").secret
    for path, content in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    model = f"{project}/scorer"
    with platform.client(tokens["owner"]) as owner:
        owner.create_project(project)
        owner.set_project_role(project, names["editor"], "editor")
        owner.set_project_role(project, names["viewer"], "viewer")
        owner.create_model(model, description="first words", tags={"team": "risk"})
        for number, accuracy in enumerate((0.81, 0.86, 0.9), 1):
            (tmp_path / "model.bin").write_bytes(FILES["model.bin"] + bytes([number]))
            produced_by = [f"{model}:1"] if number == 3 else []
            version = owner.push(model, tmp_path, framework="sklearn", produced_by=produced_by)
            for step in range(number + 1):
                owner.log_metrics(
                    version.reference, {"accuracy": accuracy - 0.01 * step, "loss": 0.1 * step}, step=step
                )
    yield Seeded(project, model, tokens["owner"], tokens["editor"], tokens["viewer"], names["owner"])


def _post(browser: httpx.Client, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
    """Sends a form of ``page`` as the browser would: with the CSRF token the page carries."""
    form = browser.get(page)
    assert form.status_code == 200, form.text
    return browser.post(action, data={"csrf": form_field(form.text, "csrf"), **fields})


def _followed(browser: httpx.Client, answer: httpx.Response) -> str:
    """The page a change redirected to, with its one-line confirmation."""
    assert answer.status_code == 303, answer.text
    page = browser.get(answer.headers["location"])
    assert page.status_code == 200
    notice = re.search(r'<p class="notice" role="status">([^<]*)</p>', page.text)
    assert notice, "no confirmation"
    return notice[1]


def _refusal(html: str, form: str) -> str:
    found = re.search(rf'data-refused="{form}">Refused: ([^<]*)</p>', html)
    assert found, f"no refusal beside the {form} form"
    return found[1]


def test_a_stage_change_made_on_the_page_shows_in_the_api_and_the_audit_log_with_its_reason(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    page = seeded.page(2)
    with signed_in(platform_console, seeded.editor) as browser:
        answer = _post(browser, page, f"{page}/stage", {"stage": "VALIDATION", "reason": "passed <b>review</b>"})
        assert _followed(browser, answer) == f"{seeded.model}:2 is now in stage VALIDATION."
        again = browser.get(page)
    assert '<p class="notice"' not in again.text  # shown once
    with platform.client(seeded.owner) as api:
        assert api.get_version(f"{seeded.model}:2").stage.value == "VALIDATION"
        event = next(api.audit_events(project=seeded.project, resource=f"{seeded.model}:2", limit=1))
    assert (event.action, event.reason) == ("version.stage", "passed <b>review</b>")
    assert "passed &lt;b&gt;review&lt;/b&gt;" in again.text  # the audit trail of the page, inert


def test_aliases_and_descriptions_changed_on_the_pages_show_in_the_api_and_the_audit_log_with_their_reasons(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    version_page, model_page = seeded.page(3), seeded.page()
    with signed_in(platform_console, seeded.editor) as browser:
        answer = _post(
            browser, version_page, f"{version_page}/aliases", {"alias": "candidate", "reason": "best <i>auc</i>"}
        )
        assert _followed(browser, answer) == "Alias candidate now points at version 3."
        edit = {"description": "retrained", "tags": "a=1\nb = 2", "reason": "new data"}
        answer = _post(browser, version_page, f"{version_page}/edit", edit)
        assert _followed(browser, answer) == f"Saved the description and tags of {seeded.model}:3."
        edit = {"description": "new words", "tags": "team=risk", "reason": "clearer"}
        answer = _post(browser, model_page, f"{model_page}/edit", edit)
        assert _followed(browser, answer) == f"Saved the description of {seeded.model}."  # tags unchanged: not sent
        answer = _post(
            browser, version_page, f"{version_page}/aliases/delete", {"alias": "candidate", "reason": "done"}
        )
        assert _followed(browser, answer) == "Alias candidate removed."
        history = browser.get(model_page).text
        audit = browser.get(f"/audit?project={seeded.project}").text

    with platform.client(seeded.owner) as api:
        version, model = api.get_version(f"{seeded.model}:3"), api.get_model(seeded.model)
        events = list(api.audit_events(project=seeded.project, resource=seeded.model, limit=20))
    assert (version.description, version.tags, version.aliases) == ("retrained", {"a": "1", "b": "2"}, ())
    assert (model.description, model.tags) == ("new words", {"team": "risk"})
    changes = [(event.action, event.resource, event.reason) for event in events[:4]]
    assert changes == [
        ("alias.delete", f"{seeded.model}@candidate", "done"),
        ("model.update", seeded.model, "clearer"),
        ("version.update", f"{seeded.model}:3", "new data"),
        ("alias.set", f"{seeded.model}@candidate", "best <i>auc</i>"),
    ]
    alias_history = [(id_, cells[-1]) for id_, cells in _rows(history).items()]
    assert alias_history == [(str(events[0].id), "done"), (str(events[3].id), "best &lt;i&gt;auc&lt;/i&gt;")]
    audit_page = _rows(audit)
    assert [unescape(audit_page[str(event.id)][5]) for event in events[:4]] == [reason for *_, reason in changes]


def _rows(html: str) -> dict[str, list[str]]:
    """The cells of each table row showing an audit event, by the event's id, in page order."""
    rows = re.findall(r'<tr data-event="(\d+)">(.*?)</tr>', html, re.S)
    return {id_: re.findall(r"<td>(.*?)</td>", row, re.S) for id_, row in rows}


@pytest.mark.parametrize(
    ("form", "action", "fields"),
    [
        ("alias", "aliases", {"alias": "candidate"}),
        ("alias-delete", "aliases/delete", {"alias": "best"}),
        ("edit", "edit", {"description": "too long a why", "tags": ""}),
        ("stage", "stage", {"stage": "VALIDATION"}),
    ],
)
def test_a_reason_over_the_services_limit_is_refused_naming_it_and_what_was_typed_stays(
    platform_console: HttpServiceProcess,
    seeded: Seeded,
    platform: Platform,
    form: str,
    action: str,
    fields: dict[str, str],
) -> None:
    page, reason = seeded.page(2), "r" * 4097
    with platform.client(seeded.owner) as api:
        api.set_alias(seeded.model, "best", 2)
        before = api.get_version(f"{seeded.model}:2")
        events = [event.id for event in api.audit_events(project=seeded.project, limit=5)]
        with signed_in(platform_console, seeded.editor) as browser:
            refused = _post(browser, page, f"{page}/{action}", {**fields, "reason": reason})
        assert api.get_version(f"{seeded.model}:2") == before
        assert [event.id for event in api.audit_events(project=seeded.project, limit=5)] == events
    assert refused.status_code == 400
    assert _refusal(refused.text, form) == "reason: is 4097 characters long; at most 4096 allowed"
    assert refused.text.count(f'value="{reason}"') == 1  # back in the form that was sent, and only there


def test_a_viewers_changes_are_refused_with_the_services_message_and_change_nothing(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    page, reference = seeded.page(1), f"{seeded.model}:1"
    with platform.client(seeded.owner) as api:
        before = api.get_version(reference)
        with signed_in(platform_console, seeded.viewer) as browser:
            stage = _post(browser, page, f"{page}/stage", {"stage": "VALIDATION", "reason": "r"})
            alias = _post(browser, page, f"{page}/aliases", {"alias": "candidate"})
            edit = _post(browser, page, f"{page}/edit", {"description": "mine now", "tags": ""})
        after = api.get_version(reference)
    with platform.client(seeded.viewer) as viewer:
        expected = {
            "stage": _message(lambda: viewer.transition_stage(reference, "VALIDATION", reason="r")),
            "alias": _message(lambda: viewer.set_alias(seeded.model, "candidate", 1)),
            "edit": _message(lambda: viewer.update_version(reference, description="mine now")),
        }
    for answer, form in ((stage, "stage"), (alias, "alias"), (edit, "edit")):
        assert answer.status_code == 403
        assert unescape(_refusal(answer.text, form)) == expected[form]
    assert ">mine now</textarea>" in edit.text  # what was typed stays in the form
    assert after == before


def _message(call: Callable[[], object]) -> str:
    """The message of the service's refusal of ``call``."""
    with pytest.raises(modelyard.errors.PermissionDeniedError) as refused:
        call()
    return refused.value.message


def test_a_protected_alias_needs_an_admin_of_the_project(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    page = seeded.page(3)
    with signed_in(platform_console, seeded.editor) as browser:
        refused = _post(browser, page, f"{page}/aliases", {"alias": "champion"})
    assert refused.status_code == 403
    assert "champion" in _refusal(refused.text, "alias")
    with signed_in(platform_console, seeded.owner) as browser:
        answer = _post(browser, page, f"{page}/aliases", {"alias": "champion"})
        assert _followed(browser, answer) == "Alias champion now points at version 3."
    with platform.client(seeded.viewer) as api:
        assert api.get_version(f"{seeded.model}@champion").version == 3


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    page = seeded.page(1)
    with signed_in(platform_console, seeded.owner) as browser:
        browser.get(page)
        missing = browser.post(f"{page}/stage", data={"stage": "ARCHIVED", "reason": "no token"})
        wrong = browser.post(f"{page}/edit", data={"csrf": "x" * 43, "description": "forged"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    with platform.client(seeded.owner) as api:
        version = api.get_version(f"{seeded.model}:1")
    assert (version.stage.value, version.description) == ("DEVELOPMENT", "")


def test_the_model_chart_draws_each_versions_metric_as_the_api_has_it(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        first = browser.get(seeded.page())
        chosen = browser.get(f"{seeded.page()}?metric=loss")
    with platform.client(seeded.viewer) as api:
        versions = list(api.list_versions(seeded.model))
    for page, metric in ((first, "accuracy"), (chosen, "loss")):  # the first metric by default
        points = re.findall(r'<circle class="point" data-x="([^"]*)" data-y="([^"]*)"', page.text)
        expected = sorted((v.version, v.metrics[metric]) for v in versions)
        assert [(int(x), float(y)) for x, y in points] == expected


def test_the_version_page_charts_each_metrics_history_and_lists_its_lineage(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        third, first = browser.get(seeded.page(3)), browser.get(seeded.page(1))
    with platform.client(seeded.viewer) as api:
        history = {name: api.metric_history(f"{seeded.model}:3", name) for name in ("accuracy", "loss")}
    for name, points in history.items():
        section = re.search(rf'data-history="{name}">(.*?)</section>', third.text, re.S)
        assert section, f"no history of {name}"
        drawn = re.findall(r'<circle class="point" data-x="([^"]*)" data-y="([^"]*)"', section[1])
        assert len(drawn) == len(points) == 4
        assert [(float(x), float(y)) for x, y in drawn] == [(p.step, p.value) for p in points]
    project, model = seeded.model.split("/")
    assert re.search(rf'data-lineage="up"><a href="/projects/{project}/models/{model}/versions/1">', third.text)
    assert re.search(rf'data-lineage="down"><a href="/projects/{project}/models/{model}/versions/3">', first.text)
    assert "No deployment serves this version." in third.text


def test_a_downloaded_file_hashes_to_the_sha256_the_api_lists(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with platform.client(seeded.viewer) as api:
        version = api.get_version(f"{seeded.model}:2")
    assert version.artifact is not None
    project, model = seeded.model.split("/")
    with signed_in(platform_console, seeded.viewer) as browser:
        page = browser.get(seeded.page(2)).text
        for file in version.artifact.files:
            link = f"/download/{project}/{model}/2/{file.path}"
            assert f'href="{link}"' in page
            with browser.stream("GET", link) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-length"] == str(file.size)
                assert answer.headers["x-modelyard-sha256"] == file.sha256
                digest = hashlib.sha256()
                for chunk in answer.iter_bytes():
                    digest.update(chunk)
            assert digest.hexdigest() == file.sha256
        missing = browser.get(f"/download/{project}/{model}/2/nothing-here")
        again = browser.get(seeded.page(2)).text
    assert missing.status_code == 404
    # The download went through the registry as the viewer: the card counts that consumer.
    with platform.client(seeded.viewer) as api:
        consumers = api.version_consumers(f"{seeded.model}:2")
    assert [c.kind.value for c in consumers.consumers] == ["DOWNLOAD"]
    assert marked_text(again, 'data-field="team-count"') == str(consumers.team_count)
    assert "1 consumer (pulls" in again


def test_the_version_page_says_why_deployments_cannot_be_listed_instead_of_failing(
    tmp_path: Path, seeded: Seeded, platform: Platform, redis_server: EmbeddedRedis
) -> None:
    with (
        # Nothing listens at the deploy address given.
        console_process(tmp_path, platform.metadata.target, redis_server.url, deploy_addr="127.0.0.1:9") as console,
        signed_in(console, seeded.viewer) as browser,
    ):
        page = browser.get(seeded.page(1))
    assert page.status_code == 200
    assert re.search(r'data-deployments="refused">Deployments could not be listed: [^<]*deploy', page.text)


# --- in a real browser (Debian's chromium, driven by Playwright), each page checked by axe-core --


def _stage_form(page: Page) -> Locator:
    return page.get_by_role("region", name="Stage", exact=True)


def _edit_form(page: Page) -> Locator:
    return page.get_by_role("region", name="Description and tags", exact=True)


def test_in_the_browser_an_editor_moves_a_stage_and_edits_a_description_then_sees_both_on_the_audit_page(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform, chromium: Browser
) -> None:
    reference = f"{seeded.model}:2"
    with tab(chromium) as page:
        sign_in(page, platform_console, seeded.editor, seeded.page(2))
        _stage_form(page).get_by_label(re.compile("^Move from")).select_option("VALIDATION")
        _stage_form(page).get_by_label(re.compile("^Reason")).fill("passed review")
        page.keyboard.press("Enter")  # the keyboard submits the form it is in
        expect(page.get_by_role("status")).to_have_text(f"{reference} is now in stage VALIDATION.")
        _edit_form(page).get_by_label("Description", exact=True).fill("retrained on <b>May</b> data")
        _edit_form(page).get_by_label(re.compile("^Reason")).fill("new <i>data</i>")
        _edit_form(page).get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text(f"Saved the description of {reference}.")
        assert violations(page) == []

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
        page.get_by_label("Project").fill(seeded.project)
        page.get_by_label("Resource").fill(reference)
        page.get_by_label("Resource").press("Enter")
        page.wait_for_url(re.compile(r"/audit\?project=.*&resource="))
        with platform.client(seeded.owner) as api:
            version = api.get_version(reference)
            events = list(api.audit_events(project=seeded.project, resource=reference, limit=2))
        # The newest two rows: id, then action, resource and reason (cells 2, 4, 5 of the row).
        rows = page.locator("tr[data-event]").evaluate_all(
            "rs => rs.slice(0, 2).map(r => [Number(r.dataset.event), ...[2, 4, 5].map(i => r.cells[i].textContent)])"
        )
        assert violations(page) == []
        picture(page, "audit")
    assert (version.stage.value, version.description) == ("VALIDATION", "retrained on <b>May</b> data")
    assert [(e.action, e.resource, e.reason) for e in events] == [
        ("version.update", reference, "new <i>data</i>"),
        ("version.stage", reference, "passed review"),
    ]
    assert rows == [[e.id, e.action, e.resource, e.reason] for e in events]


def test_in_the_browser_a_viewers_change_shows_the_services_refusal_beside_its_form(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform, chromium: Browser
) -> None:
    reference = f"{seeded.model}:1"
    with platform.client(seeded.viewer) as viewer:
        refused_stage = _message(lambda: viewer.transition_stage(reference, "VALIDATION", reason="mine"))
        refused_edit = _message(lambda: viewer.update_version(reference, description="mine now"))
        before = viewer.get_version(reference)
    with tab(chromium) as page:
        sign_in(page, platform_console, seeded.viewer, seeded.page(1))
        _stage_form(page).get_by_label(re.compile("^Move from")).select_option("VALIDATION")
        _stage_form(page).get_by_label(re.compile("^Reason")).fill("mine")
        _stage_form(page).get_by_role("button", name="Move").click()
        expect(_stage_form(page).get_by_role("alert")).to_have_text(f"Refused: {refused_stage}")
        expect(_stage_form(page).get_by_label(re.compile("^Reason"))).to_have_value("mine")  # kept
        expect(_stage_form(page).get_by_label(re.compile("^Move from"))).to_have_value("VALIDATION")
        assert violations(page) == []
        picture(_stage_form(page), "refused-change")

        _edit_form(page).get_by_label("Description", exact=True).fill("mine now")
        _edit_form(page).get_by_role("button", name="Save").click()
        expect(_edit_form(page).get_by_role("alert")).to_have_text(f"Refused: {refused_edit}")
        expect(_edit_form(page).get_by_label("Description", exact=True)).to_have_value("mine now")
    with platform.client(seeded.viewer) as viewer:
        assert viewer.get_version(reference) == before
