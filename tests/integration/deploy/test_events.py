"""Deployment changes as audit events (the deploy service's outbox forwarded by its leader), and
RecordServiceEvents' own rules."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from classifiers import push_classifier
from replica_processes import until

import modelyard
from modelyard.internal import InternalCalls, ServiceEvent


def test_each_deployment_change_reaches_the_audit_log_once_in_order(
    client: modelyard.Client, project: str, name: str, tmp_path: Path
) -> None:
    first = push_classifier(client, f"{project}/scorer", tmp_path / "one")
    second = push_classifier(client, f"{project}/scorer", tmp_path / "two", flip=True)
    client.deploy(name, first)
    client.update_deployment(name, replicas=0, reason="quiet")
    client.update_deployment(name, reference=second, reason="the flipped one")
    client.update_deployment(name, replicas=0)  # no change: no event
    client.rollback_deployment(name, reason="back")
    client.delete_deployment(name)

    def events() -> list[modelyard.AuditEvent]:
        found = list(client.audit_events(project=project, resource=f"deployment/{name}"))
        return found if any(e.after and e.after["change"] == "deleted" for e in found) else []

    found = sorted(until(events, "the deletion's event", timeout=30), key=lambda e: e.id)
    assert {e.action for e in found} == {"deployment.changed"}
    changes = [(e.after["change"], e.actor, e.reason) for e in found if e.after and e.after["change"] != "state"]
    assert changes == [
        ("created", "tester", "created"),
        ("scaled", "tester", "quiet"),
        ("revision", "tester", "the flipped one"),
        ("revision", "tester", "back"),
        ("deleting", "tester", ""),
        ("deleted", "modelyard-deploy", ""),
    ]
    by_change = {e.after["change"]: e.after for e in found if e.after}
    assert by_change["created"] | {"source_id": 0} == {
        "deployment": name,
        "change": "created",
        "revision": 1,
        "version": first,
        "replicas": 1,
        "runtime": "PROCESS",
        "state": "PENDING",
        "message": "",
        "source_id": 0,
    }
    assert [e.after["revision"] for e in found if e.after and e.after["change"] == "revision"] == [2, 3]
    assert all(e.actor == "modelyard-deploy" for e in found if e.after and e.after["change"] == "state")
    sources = [e.after["source_id"] for e in found if e.after]
    assert sources == sorted(sources) and len(set(sources)) == len(sources)


def test_a_service_event_is_recorded_once_and_a_bad_one_is_refused(client: modelyard.Client, project: str) -> None:
    calls = InternalCalls(client)
    source = uuid.uuid4().int % 2**50 + 1  # exact in the JSON details
    event = ServiceEvent("outbox-a", source, "job.finished", project, "job/j1", "someone", "done", {"rows": 3})
    assert calls.record_service_events([event]) == 1
    assert calls.record_service_events([event]) == 0
    # The same id from another outbox (another deploy database) is another event.
    assert calls.record_service_events([dataclasses.replace(event, origin="outbox-b", resource="job/j2")]) == 1
    recorded = list(client.audit_events(project=project, resource="job/j1"))
    assert [(e.action, e.actor, e.reason, e.after) for e in recorded] == [
        ("job.finished", "someone", "done", {"rows": 3, "source_id": source})
    ]
    bad = {
        "events[0].action: must be one of deployment.changed, job.cancelled, job.created, job.finished": ServiceEvent(
            "o", 1, "version.ready", project, "x", "a"
        ),
        "events[0].source_id: must be a positive number": ServiceEvent("o", 0, "job.finished", project, "x", "a"),
        "events[0].project: is required": ServiceEvent("o", 1, "job.finished", "", "x", "a"),
        "events[0].actor: must have 1 to 128 characters": ServiceEvent("o", 1, "job.finished", project, "x", ""),
        "events[0].origin: must have 1 to 128 characters": ServiceEvent("", 1, "job.finished", project, "x", "a"),
    }
    for message, wrong in bad.items():
        with pytest.raises(modelyard.InvalidArgumentError) as refused:
            calls.record_service_events([wrong])
        assert refused.value.message == message
