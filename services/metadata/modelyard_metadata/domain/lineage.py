"""A version's lineage: the versions it was produced by and those produced by it, as far as the
caller may read them."""

from __future__ import annotations

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.entities import Caller, LineageEdge, LineageNode, ModelVersion
from modelyard_metadata.domain.guard import visible_projects
from modelyard_metadata.domain.limits import MAX_LINEAGE_DEPTH
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.versions import Versions

__all__ = ["Lineage"]

DEFAULT_DEPTH = 10


class Lineage:
    def __init__(self, store: MetadataStore, versions: Versions) -> None:
        self._store = store
        self._versions = versions

    async def of(
        self, caller: Caller, reference: str, upstream: bool, downstream: bool, depth: int
    ) -> tuple[ModelVersion, list[LineageNode], list[LineageEdge], int]:
        """The version's lineage as far as ``caller`` may read it, and how many versions were left out."""
        if depth < 0 or depth > MAX_LINEAGE_DEPTH:
            raise InvalidArgumentError("depth", f"must be between 0 and {MAX_LINEAGE_DEPTH}, got {depth}")
        version = await self._versions.get(caller, reference, "GetLineage")
        nodes, edges = await self._store.lineage(version, upstream, downstream, depth or DEFAULT_DEPTH)
        visible = visible_projects(caller.identity)
        if visible is None:
            return version, nodes, edges, 0
        return version, *_readable(version.reference, nodes, edges, visible)


def _readable(
    root: str, nodes: list[LineageNode], edges: list[LineageEdge], visible: frozenset[str]
) -> tuple[list[LineageNode], list[LineageEdge], int]:
    """The part of a lineage reached from ``root`` through versions of ``visible`` projects only:
    a reference in another project is not shown, nor what lies beyond it."""
    readable = {n.reference for n in nodes if n.reference.partition("/")[0] in visible}
    neighbours: dict[str, set[str]] = {}
    for edge in edges:
        if edge.parent in readable and edge.child in readable:
            neighbours.setdefault(edge.parent, set()).add(edge.child)
            neighbours.setdefault(edge.child, set()).add(edge.parent)
    kept, todo = {root}, [root]
    while todo:
        for neighbour in neighbours.get(todo.pop(), set()) - kept:
            kept.add(neighbour)
            todo.append(neighbour)
    shown = [n for n in nodes if n.reference in kept]
    return shown, [e for e in edges if e.parent in kept and e.child in kept], len(nodes) - len(shown)
