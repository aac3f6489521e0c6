"""The console's datasets pages against the real platform with authentication on: a project's
datasets, a dataset's versions, a version's schema, rows, file and lineage, its download, the
search by column, and the datasets on a model version's page, each checked against the API; a
stranger gets the service's refusal; and a version's page in a real browser, checked by axe."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import pytest
from auth_sessions import AuthTokens, Platform
from console_browser import marked_text, picture, sign_in, signed_in, tab, violations
from playwright.sync_api import Browser, expect

import modelyard.errors
from modelyard_common.embedded.service import HttpServiceProcess

CSV = b'customer,tenure,monthly,plan\n1,12,29.9,basic\n2,3,49.5,"premium, <b>bold</b>"\n3,40,,basic\n'


@dataclass(frozen=True)
class Seeded:
    project: str
    viewer: str  # tokens
    stranger: str

    @property
    def dataset(self) -> str:
        return f"{self.project}/customers"

    def page(self, version: int | None = None) -> str:
        path = f"/projects/{self.project}/datasets/customers"
        return path if version is None else f"{path}/versions/{version}"


@pytest.fixture(scope="module")
def seeded(platform: Platform, auth_tokens: AuthTokens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A project with a dataset of two CSV versions; version 2 trained retail/churn:1 and
    tested churn:2, and churn:2 produced another dataset's version; a viewer and a stranger."""
    suffix = uuid.uuid4().hex[:8]
    project, names = f"data-{suffix}", {who: f"{who}-{suffix}" for who in ("owner", "viewer", "stranger")}
    tokens = {}
    with platform.client(auth_tokens.admin) as admin:
        for who, name in names.items():
            admin.create_principal(name)
            tokens[who] = admin.create_token(name, description="console datasets tests").secret
    folder = tmp_path_factory.mktemp("datasets")
    (folder / "customers.csv").write_bytes(CSV)
    (folder / "first.csv").write_bytes(b"customer\n1\n")
    with platform.client(tokens["owner"]) as owner:
        owner.create_project(project)
        owner.set_project_role(project, names["viewer"], "viewer")
        owner.create_dataset(f"{project}/customers", description="who <i>left</i>")
        owner.push_dataset(f"{project}/customers", folder / "first.csv")
        owner.push_dataset(f"{project}/customers", folder / "customers.csv", tags={"month": "2026-11"})
        owner.create_dataset(f"{project}/scores")
        owner.push_dataset(f"{project}/scores", folder / "first.csv")
        owner.create_model(f"{project}/churn")
        for _ in range(2):
            owner.create_version(f"{project}/churn")
        owner.link_dataset(f"{project}/churn:1", f"{project}/customers:2", "trained_on")
        owner.link_dataset(f"{project}/churn:2", f"{project}/customers:2", "tested_on")
        owner.link_dataset(f"{project}/churn:2", f"{project}/scores:1", "produced_by")
    yield Seeded(project, tokens["viewer"], tokens["stranger"])


def _rows(html: str, marker: str) -> dict[str, str]:
    """The rows carrying ``marker`` (an attribute), by its value: their HTML."""
    return dict(re.findall(rf'<tr {marker}="([^"]*)">(.*?)</tr>', html, re.S))


def _field(row: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">([^<]*)<', row)
    assert found, f"no {name} in the row"
    return found[1]


def test_the_project_lists_its_datasets_and_a_dataset_its_versions_as_the_api_has_them(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        project = browser.get(f"/projects/{seeded.project}").text
        listing = browser.get(f"/projects/{seeded.project}/datasets").text
        dataset = browser.get(seeded.page()).text
    with platform.client(seeded.viewer) as api:
        versions = list(api.list_dataset_versions(seeded.dataset))
    assert f'href="/projects/{seeded.project}/datasets"' in project  # the project's sections
    assert list(_rows(listing, "data-dataset")) == ["customers", "scores"]
    assert "who &lt;i&gt;left&lt;/i&gt;" in listing
    rows = _rows(dataset, "data-dataset-version")
    assert list(rows) == [v.reference for v in versions] == [f"{seeded.dataset}:2", f"{seeded.dataset}:1"]
    for version in versions:
        row = rows[version.reference]
        assert version.artifact is not None
        shown = (_field(row, "rows"), _field(row, "columns"), _field(row, "size"))
        assert shown == (str(version.row_count), str(len(version.columns)), str(version.artifact.total_size))
        assert ">READY</span>" in row and "CSV" in row


def test_a_dataset_versions_page_shows_its_schema_rows_file_tags_and_lineage(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        page = browser.get(seeded.page(2)).text
    with platform.client(seeded.viewer) as api:
        version = api.get_dataset_version(f"{seeded.dataset}:2")
    schema = re.findall(r'<tr data-column="([^"]*)"><th scope="row">[^<]*</th><td>([^<]*)</td>', page)
    assert schema == [(c.name, c.type) for c in version.columns]
    assert schema == [("customer", "int64"), ("tenure", "int64"), ("monthly", "double"), ("plan", "string")]
    assert marked_text(page, 'data-field="rows"') == str(version.row_count) == "3"
    assert version.artifact is not None
    (file,) = version.artifact.files
    assert f'<td class="num">{file.size}</td><td><code>{file.sha256}</code></td>' in page
    assert "<dt>month</dt><dd>2026-11</dd>" in page
    lineage = re.findall(r'<li data-lineage="([a-z_]+)"><a href="([^"]*)">([^<]*)</a>', page)
    model = f"/projects/{seeded.project}/models/churn/versions"
    assert lineage == [
        ("trained_on", f"{model}/1", f"{seeded.project}/churn:1"),
        ("tested_on", f"{model}/2", f"{seeded.project}/churn:2"),
    ]
    assert [(link.use.value, link.model_version) for link in version.links] == [
        ("TRAINED_ON", f"{seeded.project}/churn:1"),
        ("TESTED_ON", f"{seeded.project}/churn:2"),
    ]


def test_a_model_versions_page_lists_its_datasets_linked_to_their_pages(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        page = browser.get(f"/projects/{seeded.project}/models/churn/versions/2").text
    with platform.client(seeded.viewer) as api:
        links = api.dataset_links(f"{seeded.project}/churn:2")
    shown = re.findall(r'<tr data-dataset-link="([a-z_]+)"><th scope="row"><a href="([^"]*)">([^<]*)</a>', page)
    assert shown == [
        (link.use.value.lower(), f"/projects/{seeded.project}/datasets/{name}/versions/{number}", link.dataset_version)
        for link in links
        for name, number in [link.dataset_version.split("/")[1].split(":")]
    ]
    assert [s[2] for s in shown] == [f"{seeded.dataset}:2", f"{seeded.project}/scores:1"]


def test_a_downloaded_dataset_file_hashes_to_the_sha256_the_api_lists(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with platform.client(seeded.viewer) as api:
        version = api.get_dataset_version(f"{seeded.dataset}:2")
    assert version.artifact is not None
    (file,) = version.artifact.files
    link = f"{seeded.page(2)}/files/{file.path}"
    with signed_in(platform_console, seeded.viewer) as browser:
        assert f'href="{link}"' in browser.get(seeded.page(2)).text
        answer = browser.get(link)
        missing = browser.get(f"{seeded.page(2)}/files/nothing.csv")
    assert answer.status_code == 200
    assert answer.headers["x-modelyard-sha256"] == file.sha256
    assert answer.content == CSV and hashlib.sha256(answer.content).hexdigest() == file.sha256
    assert missing.status_code == 404
    assert f"path: dataset:{seeded.dataset}:2 has no artifact file &#39;nothing.csv&#39;" in missing.text


def test_the_search_by_column_finds_the_versions_the_api_finds(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with signed_in(platform_console, seeded.viewer) as browser:
        in_project = browser.get(f"/projects/{seeded.project}/datasets?column=customer&type=int64").text
        everywhere = browser.get(f"/datasets?column=tenure&project={seeded.project}").text
        wrong_type = browser.get(f"/datasets?column=tenure&type=string&project={seeded.project}").text
    with platform.client(seeded.viewer) as api:
        found = [v.reference for v in api.search_datasets("customer", type="int64", project=seeded.project)]
    assert list(_rows(in_project, "data-dataset-version")) == found
    assert set(found) == {f"{seeded.dataset}:2", f"{seeded.dataset}:1", f"{seeded.project}/scores:1"}
    assert list(_rows(everywhere, "data-dataset-version")) == [f"{seeded.dataset}:2"]
    assert 'data-found="none">No READY dataset version has a column tenure of type string.' in wrong_type
    assert 'value="tenure"' in wrong_type  # the search stays in its form


def test_a_stranger_gets_the_services_refusal_and_nothing_of_the_datasets(
    platform_console: HttpServiceProcess, seeded: Seeded, platform: Platform
) -> None:
    with platform.client(seeded.stranger) as api, pytest.raises(modelyard.errors.ModelyardError) as refused:
        api.get_dataset_version(f"{seeded.dataset}:2")
    with signed_in(platform_console, seeded.stranger) as browser:
        pages = [browser.get(path) for path in (seeded.page(2), f"{seeded.page(2)}/files/customers.csv")]
        listing = browser.get(f"/projects/{seeded.project}/datasets")
    for page in (*pages, listing):
        assert page.status_code in (403, 404)
        assert "tenure" not in page.text and "customers.csv" not in page.text.split("</header>")[1]
    assert unescape(marked_text(pages[0].text, 'class="error" role="alert"')) == refused.value.message


def test_in_the_browser_a_dataset_version_is_reached_from_the_project_and_has_no_axe_violations(
    platform_console: HttpServiceProcess, seeded: Seeded, chromium: Browser
) -> None:
    with tab(chromium) as page:
        sign_in(page, platform_console, seeded.viewer, f"/projects/{seeded.project}")
        page.get_by_role("navigation", name=f"Project {seeded.project}").get_by_role("link", name="Datasets").click()
        page.get_by_role("link", name="customers", exact=True).click()
        page.get_by_role("link", name=f"{seeded.dataset}:2").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/datasets/customers/versions/2$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"Dataset version {seeded.dataset}:2")
        expect(page.locator("tr[data-column]")).to_have_count(4)
        assert violations(page) == []
        picture(page, "dataset-version")
        page.get_by_role("link", name=f"{seeded.project}/churn:1").click()
        expect(page.get_by_role("link", name=f"{seeded.dataset}:2")).to_be_visible()
        assert violations(page) == []
