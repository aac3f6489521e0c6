"""``modelyard score ...`` against the scoring platform of conftest.py, the deploy service's part
played by the test with its token."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from click.testing import CliRunner
from scoring_platform import Churn, Tokens, claim

import modelyard
from modelyard.cli import cli
from modelyard_common.embedded.service import ServiceProcess


class Cli:
    def __init__(self, target: str, token: str) -> None:
        self._prefix = ("--target", target, "--token", token)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, [*self._prefix, *args], env={"COLUMNS": "200"})
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self("--json", *args)
        assert code == 0, err
        return json.loads(out)


def _score_next_run(runner: Any, client: modelyard.Client, test_id: str, metrics: dict[str, float]) -> threading.Thread:
    """Plays the deploy service in the background: leases the test's next queued run and
    records ``metrics`` for it."""

    def score() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queued = [r for r in client.list_scoring_runs(test_id=test_id) if r.state.value == "QUEUED"]
            if queued:
                leased = claim(runner, queued[0].id)
                runner.record_scoring_result(leased.run.id, "deploy-a", leased.attempt, metrics=metrics, rows=3)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=score)
    thread.start()
    return thread


def test_score_commands_define_test_run_and_read(
    scoring_metadata: ServiceProcess, scoring_tokens: Tokens, client: modelyard.Client, runner: Any, churn: Churn
) -> None:
    score = Cli(scoring_metadata.target, scoring_tokens.admin)
    defined = score.json(
        "score", "define", churn.model, "--task", "classification", "--input", "features=tenure,monthly",
        "--label", "churned", "--metric", "accuracy", "--metric", "f1",
        "--threshold", "accuracy>=0.8", "--threshold", "accuracy<=1", "--reason", "from the CLI",
    )  # fmt: skip
    assert defined["thresholds"] == [{"metric": "accuracy", "min": 0.8, "max": 1.0}]
    assert defined["inputs"] == [{"input": "features", "columns": ["tenure", "monthly"]}]
    code, _, err = score("score", "define", churn.model, "--task", "classification", "--input", "features",
                         "--label", "churned")  # fmt: skip
    assert code == 2 and "'features' is not NAME=COLUMN[,COLUMN...]" in err
    code, out, _ = score("score", "show", churn.model)
    assert code == 0 and "accuracy >= 0.8 and <= 1" in out

    test = score.json("score", "test", "create", churn.model, "holdout", "--dataset", churn.dataset, "--version", "1",
                      "--trust-type", "sklearn.tree._tree.Tree")  # fmt: skip
    assert (test["version"], test["dataset"], test["trusted_types"]) == (1, churn.dataset, ["sklearn.tree._tree.Tree"])
    code, _, err = score("score", "test", "create", churn.model, "x", "--dataset", churn.dataset)
    assert code == 2 and "give one of --version, --alias or --every-new-version" in err
    code, out, _ = score("score", "test", "list", churn.project)
    assert code == 0 and "holdout" in out and "version 1" in out

    scorer = _score_next_run(runner, client, test["id"], {"accuracy": 0.9, "f1": 0.8})
    passed = score.json("score", "run", test["id"], "--wait", "--wait-timeout", "30")
    scorer.join()
    assert (passed["state"], passed["model_version"], passed["rows"]) == ("PASSED", f"{churn.model}:1", 3)

    scorer = _score_next_run(runner, client, test["id"], {"accuracy": 0.7, "f1": 0.8})
    code, out, _ = score("score", "run", test["id"], "--wait", "--wait-timeout", "30")
    scorer.join()
    assert code == 1 and "FAILED" in out and "accuracy 0.7 < min 0.8" in out

    code, out, _ = score("score", "runs", "--test", test["id"])
    assert code == 0 and out.count("holdout") == 2 and "accuracy 0.7 < min 0.8" in out
    listed = score.json("score", "runs", "--version", f"{churn.model}:1")
    assert [r["state"] for r in listed] == ["FAILED", "PASSED"]
    on_one = score.json("score", "runs", "--test", test["id"], "--version", f"{churn.model}:1", "--state", "passed")
    assert [r["id"] for r in on_one] == [passed["id"]]
    code, out, _ = score("score", "get", passed["id"])
    assert code == 0 and "PASSED" in out and "0.9" in out

    changed = score.json("score", "test", "update", test["id"], "--schedule", "0 3 * * *", "--no-trust",
                         "--reason", "nightly")  # fmt: skip
    assert changed["schedule"] == "0 3 * * *" and changed["next_run_at"] is not None
    assert changed["trusted_types"] == []
    code, out, _ = score("score", "test", "delete", test["id"], "--reason", "done")
    assert code == 0 and f"deleted scoring test {test['id']}" in out
    assert score.json("score", "test", "list", churn.model) == []
