"""Types trusted in skops files, set where a user deploys (CLI, SDK, DeployService), over real
metadata, registry, deploy service and inference servers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io
from classifiers import FEATURES
from click.testing import CliRunner
from sklearn.ensemble import RandomForestClassifier

import modelyard
from modelyard import DeploymentState
from modelyard.cli import cli

TIMEOUT = 120.0
TREE = "sklearn.tree._tree.Tree"  # a random forest's trees: a type skops does not trust by default


def push_forest(client: modelyard.Client, model: str, directory: Path) -> tuple[str, RandomForestClassifier]:
    labels = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(np.int64)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(FEATURES, labels)
    directory.mkdir(parents=True, exist_ok=True)
    skops.io.dump(forest, directory / "model.skops")
    assert TREE in skops.io.get_untrusted_types(file=directory / "model.skops")
    reference = client.push(model, directory, framework="sklearn", payload_format="skops").reference
    return reference, forest


def test_a_skops_model_with_untrusted_types_deploys_once_they_are_trusted_where_it_is_deployed(
    client: modelyard.Client, project: str, name: str, tmp_path: Path
) -> None:
    reference, forest = push_forest(client, f"{project}/forest", tmp_path / "forest")
    client.deploy(name, reference)
    try:
        with pytest.raises(modelyard.FailedPreconditionError):
            client.wait_deployment(name, timeout=TIMEOUT)
        failed = client.get_deployment(name)
        assert failed.state is DeploymentState.FAILED
        # The message names the way that exists: the deploy command's option (and the SDK's argument).
        assert f"modelyard deploy NAME {reference} --trust-type {TREE}" in failed.status_message
        assert failed.trusted_types == ()

        base = ["--target", client.target, "--deploy", client.deploy_target, "--actor", "tester", "--json"]
        result = CliRunner().invoke(cli, [*base, "deploy", name, reference, "--trust-type", TREE, "--wait"])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert (shown["revision"], shown["trusted_types"]) == (2, [TREE])

        deployment = client.get_deployment(name)
        assert (deployment.state, deployment.version_reference, deployment.trusted_types) == (
            DeploymentState.AVAILABLE,
            reference,
            (TREE,),
        )
        outputs = client.predict(name, {"input": FEATURES[:5]})
        np.testing.assert_array_equal(outputs["predict"], forest.predict(FEATURES[:5]))
        # A change of trusted types is a revision: who, why, and what it trusts.
        newest, first = client.deployment_revisions(name)
        assert (newest.revision, newest.actor, newest.reason, newest.trusted_types) == (
            2,
            "tester",
            f"trust types {TREE}",
            (TREE,),
        )
        assert (first.revision, first.trusted_types) == (1, ())

        # Deploying again without them keeps them; an empty list given through the SDK removes them.
        assert client.deploy(name, reference).created_revision == 0
        assert client.update_deployment(name, trusted_types=[]).created_revision == 3
        assert client.get_deployment(name).trusted_types == ()
        with pytest.raises(modelyard.InvalidArgumentError, match=r"trusted_types\[0\]: 'not a type'"):
            client.update_deployment(name, trusted_types=["not a type"])
    finally:
        client.delete_deployment(name)
