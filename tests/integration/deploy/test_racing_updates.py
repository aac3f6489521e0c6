"""Changes of one deployment raced through real gRPC: each caller learns the revision its change
created, not whichever revision is latest when its answer is built."""

from __future__ import annotations

from concurrency import at_once

import modelyard
from modelyard.internal import InternalCalls

CALLERS = 8
FILE = modelyard.ArtifactFile(path="m", size=1, sha256="1" * 64, storage_key="k", content_type="")


def _ready_versions(client: modelyard.Client, model: str, count: int) -> list[str]:
    """READY versions (their bytes are never fetched: the deployment runs no replica)."""
    references = []
    for _ in range(count):
        reference = client.create_version(model).reference
        InternalCalls(client).commit_artifact(reference, modelyard.Artifact(files=(FILE,), total_size=1))
        references.append(reference)
    return references


def test_racing_updates_and_rollbacks_each_learn_the_revision_they_created(
    client: modelyard.Client, project: str, name: str
) -> None:
    model = f"{project}/m"
    client.create_model(model)
    first, *others = _ready_versions(client, model, CALLERS + 1)
    client.deploy(name, first)
    try:
        scaled = client.update_deployment(name, replicas=0)
        assert scaled.created_revision == 0  # replicas only: no revision
        assert client.update_deployment(name, reference=others[0]).created_revision == 2

        def roll_back() -> tuple[str, modelyard.Deployment]:
            return first, client.rollback_deployment(name, revision=1, reason="racing")

        def update(reference: str) -> tuple[str, modelyard.Deployment]:
            return reference, client.update_deployment(name, reference=reference, reason="racing")

        calls = [roll_back] + [lambda r=r: update(r) for r in others[1:]]
        results = at_once(calls)

        created = [d.created_revision for _, d in results]
        assert sorted(created) == list(range(3, CALLERS + 3)), created
        served = {r.revision: r.version_reference for r in client.deployment_revisions(name)}
        for reference, deployment in results:
            assert served[deployment.created_revision] == reference
            assert deployment.revision >= deployment.created_revision
    finally:
        client.delete_deployment(name)
