"""What the scoring tests share: the platform's tokens, the project a test gets (``Churn``), and
leasing a given run as the deploy service does (ClaimScoringRuns with its token), polling with a
deadline: other tests' runs leased meanwhile are left to their leases."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelyard import ScoringRun
from modelyard.internal import InternalCalls


@dataclass(frozen=True)
class Tokens:
    admin: str
    registry: str
    deploy: str


@dataclass(frozen=True)
class Churn:
    """A project holding model ``model`` (version 1 READY), dataset version ``dataset``, and the
    model's score definition (accuracy at least 0.8)."""

    project: str
    model: str
    dataset: str


def claim(
    runner: InternalCalls[Any], run_id: str, name: str = "deploy-a", lease_seconds: float = 60, timeout: float = 30
) -> Any:
    """The lease of run ``run_id``, claimed by ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for claimed in runner.claim_scoring_runs(name, 100, lease_seconds):
            if claimed.run.id == run_id:
                return claimed
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} was not leased within {timeout} s")


def runs_of(client: Any, test_id: str, trigger: str, timeout: float = 15) -> list[ScoringRun]:
    """The runs of the test with ``trigger``, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [run for run in client.list_scoring_runs(test_id=test_id) if run.trigger == trigger]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {trigger} run of test {test_id} within {timeout} s")
