"""The append-only audit log, read by RPC and watched as a stream."""

from __future__ import annotations

import queue
import threading
import time

import asyncpg
import pytest

import modelyard
from modelyard import errors


def test_every_mutation_is_audited_with_actor_and_before_after(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m", team="a")
    client.update_model(f"{project}/m", team="b")
    ref = client.create_version(f"{project}/m").reference
    client.log_metrics(ref, {"accuracy": 0.5})
    events = list(client.audit_events(project=project))
    assert [e.action for e in events] == [
        "version.metrics", "version.create", "model.update", "model.create", "project.create"
    ]  # fmt: skip
    assert {e.actor for e in events} == {"tester"}
    update = events[2]
    assert update.resource == f"{project}/m"
    assert (update.before or {})["team"] == "a" and (update.after or {})["team"] == "b"
    assert [e.action for e in client.audit_events(resource=f"{project}/m", limit=2)] == [
        "version.metrics",
        "version.create",
    ]


def test_failed_mutation_leaves_no_audit_event(client: modelyard.Client, project: str) -> None:
    before = [e.id for e in client.audit_events(project=project)]
    with pytest.raises(errors.NotFoundError):
        client.create_version(f"{project}/missing")
    assert [e.id for e in client.audit_events(project=project)] == before


def test_stage_transition_records_reason(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    ref = client.create_version(f"{project}/m").reference
    client.transition_stage(ref, "ARCHIVED", reason="never trained")
    event = next(iter(client.audit_events(resource=ref)))
    assert (event.action, event.reason, event.before, event.after) == (
        "version.stage", "never trained", {"stage": "DEVELOPMENT"}, {"stage": "ARCHIVED"}
    )  # fmt: skip


async def test_audit_rows_cannot_be_changed_or_deleted(
    metadata_dsn: str, client: modelyard.Client, project: str
) -> None:
    conn = await asyncpg.connect(metadata_dsn)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE project = $1", project)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit_events WHERE project = $1", project)
    finally:
        await conn.close()


def _watch(target: str, found: queue.Queue[modelyard.AuditEvent], **filters: object) -> threading.Thread:
    def run() -> None:
        with modelyard.connect(target, timeout=None) as watcher:
            for event in watcher.watch_events(**filters):  # type: ignore[arg-type]
                found.put(event)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _take(found: queue.Queue[modelyard.AuditEvent], count: int, deadline: float = 10.0) -> list[modelyard.AuditEvent]:
    events = []
    end = time.monotonic() + deadline
    while len(events) < count:
        events.append(found.get(timeout=max(0.0, end - time.monotonic())))
    return events


def test_watch_streams_committed_events_live(metadata_service, client: modelyard.Client, project: str) -> None:  # type: ignore[no-untyped-def]
    found: queue.Queue[modelyard.AuditEvent] = queue.Queue()
    _watch(metadata_service.target, found, project=project)
    # The stream opens asynchronously: write until the watcher has seen something, then check order.
    end = time.monotonic() + 10
    while found.empty() and time.monotonic() < end:
        client.create_model(f"{project}/warmup-{int(time.monotonic() * 1000)}")
        time.sleep(0.05)
    while not found.empty():
        found.get()
    client.create_model(f"{project}/live")
    client.update_model(f"{project}/live", team="x")
    events = _take(found, 2)
    assert [(e.action, e.resource) for e in events] == [
        ("model.create", f"{project}/live"), ("model.update", f"{project}/live")
    ]  # fmt: skip


def test_watch_replays_after_id_then_goes_live(metadata_service, client: modelyard.Client, project: str) -> None:  # type: ignore[no-untyped-def]
    client.create_model(f"{project}/a")
    first = next(iter(client.audit_events(project=project)))
    client.create_model(f"{project}/b")
    client.create_model(f"{project}/c")
    found: queue.Queue[modelyard.AuditEvent] = queue.Queue()
    _watch(metadata_service.target, found, project=project, after_id=first.id)
    replayed = _take(found, 2)
    assert [e.resource for e in replayed] == [f"{project}/b", f"{project}/c"]
    client.create_model(f"{project}/d")
    assert _take(found, 1)[0].resource == f"{project}/d"
