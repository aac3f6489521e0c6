"""A scoring run's outcome reaches the receivers subscribed to it (authentication is off here: the
test plays the registry's commits and the deploy service's lease and result itself)."""

from __future__ import annotations

from webhook_receiver import Receiver, eventually

import modelyard
from modelyard.internal import InternalCalls

_FILE = modelyard.ArtifactFile(path="model.json", size=1, sha256="1" * 64, storage_key="k", content_type="")


def test_a_failed_scoring_run_is_delivered_with_what_failed(
    client: modelyard.Client, project: str, receiver: Receiver
) -> None:
    hook = client.create_webhook(project, receiver.url, kinds=["scoring_test.failed"])
    internal = InternalCalls(client)
    version = client.create_version(f"{project}/scorer").reference
    internal.commit_artifact(version, modelyard.Artifact(files=(_FILE,), total_size=1))
    client.create_dataset(f"{project}/holdout")
    table = client.create_dataset_version(f"{project}/holdout", "CSV").reference
    columns = [modelyard.DatasetColumn("x", "double"), modelyard.DatasetColumn("y", "double")]
    internal.commit_dataset_version(table, modelyard.Artifact(files=(_FILE,), total_size=1), columns, 2)
    client.set_score_definition(
        f"{project}/scorer", task="regression", inputs={"x": ["x"]}, label_column="y", thresholds={"rmse": (None, 1)}
    )
    test = client.create_scoring_test(f"{project}/scorer", "holdout", dataset=table, version=1)
    run = client.run_scoring_test(test.id)
    leased = [c for c in internal.claim_scoring_runs("hooks", 100, 60) if c.run.id == run.id]
    assert [c.attempt for c in leased] == [1]
    internal.record_scoring_result(run.id, "hooks", 1, metrics={"rmse": 2.5, "mae": 2.0, "r2": 0.1})

    eventually(lambda: len(receiver.events()) >= 1, what="the scoring_test.failed delivery")
    [event] = receiver.events()
    assert (event["kind"], event["resource"]) == ("scoring_test.failed", version)
    assert event["data"]["after"]["message"] == "rmse 2.5 > max 1"
    assert (event["data"]["after"]["test"], event["data"]["after"]["run"]) == ("holdout", run.id)
    assert receiver.received[0].signed_by(hook.secret)
