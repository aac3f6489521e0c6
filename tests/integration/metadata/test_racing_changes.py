"""Read-modify-writes raced through real gRPC: every change is based on the one before it, so what
callers are told and what the audit log records form one chain per resource."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from concurrency import at_once

import modelyard

CALLERS = 16


def _events(client: modelyard.Client, resource: str, action: str) -> list[modelyard.AuditEvent]:
    """The ``action`` events of exactly ``resource``, oldest first."""
    found = [e for e in client.audit_events(resource=resource) if e.resource == resource and e.action == action]
    return sorted(found, key=lambda e: e.id)


def _assert_one_chain(pairs: list[tuple[object, object]], first: object) -> None:
    """``pairs`` of (before, after) link up, each after the one before it, from ``first``."""
    order, current = [], first
    by_before = {before: after for before, after in pairs}
    assert len(by_before) == len(pairs), f"two changes were based on the same state: {pairs}"
    while current in by_before:
        current = by_before[current]
        order.append(current)
    assert len(order) == len(pairs), f"the changes do not form one chain from {first!r}: {pairs}"


def test_racing_alias_moves_each_learn_a_distinct_previous_version_and_audit_one_chain(
    client: modelyard.Client, project: str
) -> None:
    model = f"{project}/m"
    client.create_model(model)
    for _ in range(CALLERS + 1):
        client.create_version(model)
    client.set_alias(model, "best", 1)
    targets = list(range(2, CALLERS + 2))

    changes = at_once([lambda n=n: client.set_alias(model, "best", n) for n in targets])

    told = [(c.previous_version, c.version.version) for c in changes]  # type: ignore[union-attr]
    _assert_one_chain(told, 1)
    final = client.get_version(f"{model}@best").version
    assert sorted(p for p, _ in told) == sorted({1, *targets} - {final})
    events = _events(client, f"{model}@best", "alias.set")
    assert (events[0].before, events[0].after) == (None, {"version": 1})
    audited = [(e.before["version"], e.after["version"]) for e in events[1:]]  # type: ignore[index]
    _assert_one_chain(audited, 1)
    assert sorted(audited) == sorted(told)  # each caller was told what the audit log records
    assert audited[-1][1] == final


def test_racing_alias_deletes_and_moves_audit_one_chain(client: modelyard.Client, project: str) -> None:
    model = f"{project}/m"
    client.create_model(model)
    for _ in range(CALLERS):
        client.create_version(model)
    client.set_alias(model, "best", 1)

    def delete() -> tuple[int | None, None]:
        try:
            return client.delete_alias(model, "best").previous_version, None
        except modelyard.NotFoundError:
            return None, None  # the alias was already gone: nothing changed, nothing recorded

    def move(n: int) -> tuple[int | None, int]:
        return client.set_alias(model, "best", n).previous_version, n

    calls: list[Callable[[], tuple[int | None, int | None]]] = [
        (lambda n=n: move(n)) if n % 2 else delete for n in range(1, CALLERS + 1)
    ]
    results = at_once(calls)

    changes = [(before, after) for before, after in results if (before, after) != (None, None)]
    events = sorted(
        _events(client, f"{model}@best", "alias.set") + _events(client, f"{model}@best", "alias.delete"),
        key=lambda e: e.id,
    )[1:]
    audited = [((e.before or {}).get("version"), (e.after or {}).get("version")) for e in events]
    assert sorted(audited, key=repr) == sorted(changes, key=repr)
    for (_, after), (before, _) in itertools.pairwise(audited):
        assert before == after, f"an event's before is not the previous event's after: {audited}"
    assert audited[0][0] == 1


def test_racing_model_updates_and_alias_moves_each_audit_the_state_the_previous_change_left(
    client: modelyard.Client, project: str
) -> None:
    model = f"{project}/m"
    client.create_model(model, description="d0")
    for _ in range(CALLERS // 2 + 1):
        client.create_version(model)
    client.set_alias(model, "best", 1)
    moves = [lambda n=n: client.set_alias(model, "best", n) for n in range(2, CALLERS // 2 + 2)]
    updates = [lambda i=i: client.update_model(model, description=f"d{i}") for i in range(1, CALLERS // 2 + 1)]

    at_once([call for pair in zip(moves, updates, strict=True) for call in pair])

    events = sorted(
        _events(client, f"{model}@best", "alias.set")[1:] + _events(client, model, "model.update"), key=lambda e: e.id
    )
    best, description = 1, "d0"  # each change holds the model's lock: ids are in the order they were made
    for event in events:
        assert event.before is not None and event.after is not None
        if event.action == "alias.set":
            assert event.before == {"version": best}
            best = event.after["version"]
        else:
            assert (event.before["aliases"], event.before["description"]) == ({"best": best}, description)
            assert event.after["aliases"] == {"best": best}
            description = event.after["description"]
    assert len(events) == CALLERS


def test_racing_lineage_updates_audit_one_chain(client: modelyard.Client, project: str) -> None:
    model = f"{project}/m"
    client.create_model(model)
    parents = [client.create_version(model).reference for _ in range(CALLERS)]
    child = client.create_version(model, produced_by=[parents[0]]).reference

    at_once([lambda p=p: client.update_version(child, produced_by=[p]) for p in parents[1:]])

    events = _events(client, child, "version.update")
    audited = [(e.before["produced_by"][0], e.after["produced_by"][0]) for e in events]  # type: ignore[index]
    _assert_one_chain(audited, parents[0])
    assert audited[-1][1] == client.get_version(child).produced_by[0]


def test_racing_metric_logs_keep_every_metric(client: modelyard.Client, project: str) -> None:
    model = f"{project}/m"
    client.create_model(model)
    reference = client.create_version(model).reference

    at_once([lambda i=i: client.log_metrics(reference, {f"m{i}": float(i)}) for i in range(CALLERS)])

    assert client.get_version(reference).metrics == {f"m{i}": float(i) for i in range(CALLERS)}
