"""The overlays of deploy/k8s, rendered once per session by a real kustomize."""

from __future__ import annotations

import functools

import pytest
from k8s_manifests import OVERLAYS, Manifests, kustomize_command, render


@functools.cache
def _rendered(overlay: str) -> Manifests:
    command = kustomize_command()
    if command is None:
        pytest.skip(
            "rendering deploy/k8s needs kustomize: install kustomize "
            "(https://kubectl.docs.kubernetes.io/installation/kustomize/) or kubectl, which embeds it"
        )
    return Manifests(overlay, render(command, overlay))


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> Manifests:
    """Each overlay in turn."""
    return _rendered(request.param)


@pytest.fixture
def dev() -> Manifests:
    return _rendered("dev")


@pytest.fixture
def production() -> Manifests:
    return _rendered("production")


@pytest.fixture
def production_tls() -> Manifests:
    """The production overlay with components/tls (mTLS everywhere)."""
    return _rendered("production-tls")
