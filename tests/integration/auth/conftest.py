"""Services with authentication on: a metadata service, its admin and service tokens, sessions.

Fixtures: ``auth_tokens`` (admin, registry, deploy tokens), ``auth_metadata`` (the process),
``admin`` (a Session with the admin token); auth_sessions.Session(target, token) for others;
``platform`` (registry and deploy services beside it), ``team`` (a project, its owner, a
viewer and a stranger, each with a client of the platform), ``console`` (the web console on
that metadata service), ``platform_console`` (one that downloads through the platform) and
``chromium`` (Debian's chromium, driven by Playwright; tabs and axe: console_browser.py). A
test using ``chromium`` is marked ``browser``: `make screenshots` runs those.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
from auth_sessions import AuthTokens, Platform, Session, Team, new_token
from console_browser import console_process
from playwright.sync_api import Browser, sync_playwright

from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import HttpServiceProcess, ServiceProcess


@pytest.fixture(scope="session")
def auth_tokens() -> AuthTokens:
    return AuthTokens(new_token(), new_token(), new_token())


@pytest.fixture(scope="session")
def auth_dsn(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("auth_tests")


@pytest.fixture(scope="session")
def auth_metadata(
    tmp_path_factory: pytest.TempPathFactory,
    auth_dsn: str,
    redis_server: EmbeddedRedis,
    auth_tokens: AuthTokens,
    launch_metadata: Callable[..., ServiceProcess],
) -> Iterator[ServiceProcess]:
    service = launch_metadata(
        tmp_path_factory.mktemp("auth-metadata"), auth_dsn, redis_server.url, **auth_tokens.metadata_settings()
    )
    yield service
    service.stop()


@pytest.fixture()
def admin(auth_metadata: ServiceProcess, auth_tokens: AuthTokens) -> Iterator[Session]:
    session = Session(auth_metadata.target, auth_tokens.admin)
    yield session
    session.close()


@pytest.fixture(scope="package")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    auth_metadata: ServiceProcess,
    auth_dsn: str,
    auth_tokens: AuthTokens,
    seaweedfs: EmbeddedSeaweedFS,
    registry_config: Callable[..., dict[str, str]],
    deploy_config: Callable[..., dict[str, str]],
) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("auth-platform")
    on = {"auth_enabled": "true"}
    registry = ServiceProcess(
        "registry",
        "modelyard_registry",
        tmp_path_factory.mktemp("auth-registry"),
        registry_config(
            seaweedfs, auth_dsn, auth_metadata, s3_bucket="auth-tests", auth_token=auth_tokens.registry, **on
        ),
    )
    registry.start()
    deploy = ServiceProcess(
        "deploy",
        "modelyard_deploy",
        tmp_path_factory.mktemp("auth-deploy"),
        deploy_config(auth_dsn, auth_metadata, registry, data, auth_token=auth_tokens.deploy, warm_replicas="1", **on),
    )
    deploy.start()
    yield Platform(auth_metadata, registry, deploy)
    deploy.stop()
    registry.stop()


@pytest.fixture()
def team(platform: Platform, auth_tokens: AuthTokens) -> Iterator[Team]:
    suffix = uuid.uuid4().hex[:8]
    names = {who: f"{who}-{suffix}" for who in ("owner", "viewer", "stranger")}
    clients = {}
    with platform.client(auth_tokens.admin) as admin:
        for who, name in names.items():
            admin.create_principal(name)
            clients[who] = platform.client(admin.create_token(name, description="tests").secret)
    project = f"fraud-{suffix}"
    clients["owner"].create_project(project)
    clients["owner"].set_project_role(project, names["viewer"], "viewer")
    yield Team(project, clients["owner"], clients["viewer"], clients["stranger"], names)
    for client in clients.values():
        client.close()


@pytest.fixture(scope="package")
def console(
    tmp_path_factory: pytest.TempPathFactory, auth_metadata: ServiceProcess, redis_server: EmbeddedRedis
) -> Iterator[HttpServiceProcess]:
    with console_process(tmp_path_factory.mktemp("console"), auth_metadata.target, redis_server.url) as service:
        yield service


@pytest.fixture(scope="package")
def platform_console(
    tmp_path_factory: pytest.TempPathFactory, platform: Platform, redis_server: EmbeddedRedis
) -> Iterator[HttpServiceProcess]:
    """A console told where the registry and deploy services are (the metadata service of these
    tests was started before them, so it cannot announce them)."""
    addresses = {"registry_addr": platform.registry.target, "deploy_addr": platform.deploy.target}
    folder = tmp_path_factory.mktemp("console")
    with console_process(folder, platform.metadata.target, redis_server.url, **addresses) as service:
        yield service


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium (the chromium fixture)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The browser, one per module, or a loud skip on a machine without one; CI
    (MODELYARD_REQUIRE_BROWSER=1, set by .ci/run, which installs it) fails instead. Not shared
    wider: Playwright's sync API keeps an event loop running in this thread while it is open,
    and "package" scope lasts the session here (no __init__.py), so every asyncio test after
    these would fail."""
    executable = shutil.which("chromium")
    if executable is None:
        message = "no chromium on PATH (Debian: apt-get install chromium): the console's browser tests did not run"
        if os.environ.get("MODELYARD_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()
