"""The append-only audit log, read by RPC and watched as a stream."""

from __future__ import annotations

import queue
import threading
import time

import asyncpg
import pytest
from click.testing import CliRunner

import modelyard
from modelyard import errors
from modelyard.cli import cli
from modelyard_metadata.domain.limits import MAX_TEXT


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


def test_alias_and_update_changes_record_their_reason(client: modelyard.Client, project: str) -> None:
    model = f"{project}/m"
    client.create_model(model)
    ref = client.create_version(model).reference
    client.update_model(model, description="scores fraud", reason="clearer wording")
    client.update_version(ref, tags={"review": "yes"}, reason="queued for review")
    client.set_alias(model, "candidate", 1, reason="best offline auc")
    client.delete_alias(model, "candidate", reason="superseded")
    events = list(client.audit_events(project=project, limit=4))
    assert [(e.action, e.resource, e.reason) for e in events] == [
        ("alias.delete", f"{model}@candidate", "superseded"),
        ("alias.set", f"{model}@candidate", "best offline auc"),
        ("version.update", ref, "queued for review"),
        ("model.update", model, "clearer wording"),
    ]


@pytest.mark.parametrize("change", ["update_model", "update_version", "set_alias", "delete_alias"])
def test_a_reason_over_the_text_limit_is_refused_naming_it_and_changes_nothing(
    client: modelyard.Client, project: str, change: str
) -> None:
    model = f"{project}/m"
    client.create_model(model)
    ref = client.create_version(model).reference
    client.set_alias(model, "candidate", 1)
    calls = {
        "update_model": lambda reason: client.update_model(model, description="x", reason=reason),
        "update_version": lambda reason: client.update_version(ref, description="x", reason=reason),
        "set_alias": lambda reason: client.set_alias(model, "best", 1, reason=reason),
        "delete_alias": lambda reason: client.delete_alias(model, "candidate", reason=reason),
    }
    before = [e.id for e in client.audit_events(project=project)]
    with pytest.raises(errors.InvalidArgumentError) as refused:
        calls[change]("r" * (MAX_TEXT + 1))
    assert refused.value.message == f"reason: is {MAX_TEXT + 1} characters long; at most {MAX_TEXT} allowed"
    assert [e.id for e in client.audit_events(project=project)] == before
    calls[change]("r" * MAX_TEXT)  # the limit itself is allowed
    assert next(iter(client.audit_events(project=project))).reason == "r" * MAX_TEXT


def test_the_cli_reason_option_is_recorded_in_the_audit_event(client: modelyard.Client, project: str) -> None:
    model = f"{project}/m"
    client.create_model(model)
    ref = client.create_version(model).reference
    for args in (
        ["model", "update", model, "--team", "risk"],
        ["version", "update", ref, "--tag", "a=1"],
        ["alias", "set", model, "best", "1"],
        ["alias", "delete", model, "best"],
    ):
        ran = CliRunner().invoke(cli, ["--target", client.target, *args, "--reason", f"{args[0]} {args[1]}"])
        assert ran.exit_code == 0, ran.output
    events = list(client.audit_events(project=project, limit=4))
    assert [(e.action, e.reason) for e in events] == [
        ("alias.delete", "alias delete"),
        ("alias.set", "alias set"),
        ("version.update", "version update"),
        ("model.update", "model update"),
    ]


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
