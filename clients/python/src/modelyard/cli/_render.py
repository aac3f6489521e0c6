"""Rich renderings of the SDK's results. Every value shown goes through ``Text`` (never markup),
so names and descriptions are printed as they are.

One module although long: one small function per result type, all built from the same few
helpers (``_table``, ``_details``, ``_cell``), so that every command's output looks alike."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

from modelyard import (
    AliasChange,
    ArtifactFile,
    ArtifactStatus,
    AuditEvent,
    Comparison,
    Dependency,
    DependencyScope,
    Deployment,
    DeploymentRevision,
    DeploymentState,
    Job,
    Lineage,
    MetricPoint,
    Model,
    ModelVersion,
    NewToken,
    Principal,
    Project,
    ProjectRole,
    ProjectSummary,
    ReplicaState,
    RoleBinding,
    Serving,
    SourceLocation,
    Stage,
    TensorSpec,
    Token,
    VersionConsumers,
    VersionStatus,
    WhoAmI,
)

_STYLES: dict[Enum, str] = {
    Stage.DEVELOPMENT: "cyan",
    Stage.VALIDATION: "yellow",
    Stage.PRODUCTION: "bold green",
    Stage.ARCHIVED: "dim",
    VersionStatus.PENDING_UPLOAD: "yellow",
    VersionStatus.READY: "green",
    VersionStatus.FAILED: "bold red",
    DeploymentState.PENDING: "yellow",
    DeploymentState.PROGRESSING: "cyan",
    DeploymentState.AVAILABLE: "green",
    DeploymentState.DEGRADED: "yellow",
    DeploymentState.FAILED: "bold red",
    DeploymentState.DELETING: "dim",
    ReplicaState.STARTING: "yellow",
    ReplicaState.READY: "green",
    ReplicaState.STOPPING: "dim",
    ReplicaState.FAILED: "bold red",
    ProjectRole.VIEWER: "cyan",
    ProjectRole.EDITOR: "yellow",
    ProjectRole.ADMIN: "bold red",
}
_MAX_METRICS_IN_LIST = 3
_NO_WRAP = frozenset({"ID", "TIME", "CREATED", "STEP", "DEPTH", "VERSION", "SIZE", "SHA-256", "DURABLE"})
_SHORT_SHA = 12


def fmt(value: Any) -> str:
    """One value as plain text: numbers compact, times in UTC, documents as compact JSON with
    sorted keys (a structured metric reads the same however it travelled)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, SourceLocation):
        return location_text(value)
    if isinstance(value, TensorSpec):
        return f"{value.name}:{value.datatype}:{','.join(map(str, value.shape))}"
    if isinstance(value, Dependency):
        return dependency_text(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True, default=str)
    return str(value)


def human_size(size: int) -> str:
    """Bytes in binary units: 512 -> "512 B", 1536 -> "1.5 KiB", 3 * 2**30 -> "3.0 GiB"."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def location_text(location: SourceLocation) -> str:
    """The command-line form ``URI#revision=REV&path=PATH``."""
    keys = [f"{k}={v}" for k, v in (("revision", location.revision), ("path", location.path)) if v]
    return location.uri + ("#" + "&".join(keys) if keys else "")


def dependency_text(dependency: Dependency) -> str:
    version = dependency.version
    if version and version[0].isalnum():
        version = "==" + version
    scope = " (build)" if dependency.scope is DependencyScope.BUILD else ""
    return f"{dependency.library}{version}{scope}"


def _minutes(moment: datetime | None) -> Text:
    """A time to the minute, UTC, for list tables."""
    return Text(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "")


def _cell(value: Any) -> Text:
    return Text(fmt(value), style=_STYLES.get(value, "") if isinstance(value, Enum) else "")


def _table(*headers: str, title: str | None = None) -> Table:
    # "fold" breaks a long reference over lines rather than cutting it short with an ellipsis.
    columns = [Column(header, overflow="fold", no_wrap=header in _NO_WRAP) for header in headers]
    return Table(*columns, box=box.SIMPLE_HEAD, header_style="bold", title=title, title_justify="left", pad_edge=False)


def _details(rows: Iterable[tuple[str, Any]]) -> Table:
    """Key/value lines; empty values are left out."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        if value not in (None, "", (), {}, []):
            grid.add_row(key, _cell(value))
    return grid


def _pairs(title: str, mapping: dict[str, Any]) -> Table | None:
    if not mapping:
        return None
    table = _table(title, "")
    for key, value in sorted(mapping.items()):
        table.add_row(Text(key), _cell(value))
    return table


def _group(*parts: RenderableType | None) -> Group:
    return Group(*(p for p in parts if p is not None))


def _files(items: Sequence[ArtifactFile], title: str | None = None) -> Table:
    """Files of an artifact; the digest shortened like git's (--json has it whole)."""
    table = _table("FILE", "SIZE", "SHA-256", title=title)
    for f in items:
        table.add_row(Text(f.path), human_size(f.size), f.sha256[:_SHORT_SHA])
    return table


# --- projects and models -------------------------------------------------------------------


def project(p: Project) -> RenderableType:
    rows = [("project", p.name), ("description", p.description), ("owner", p.owner)]
    return _details([*rows, ("created", p.create_time), ("updated", p.update_time)])


def projects(items: Sequence[Project]) -> RenderableType:
    table = _table("PROJECT", "OWNER", "DESCRIPTION", "CREATED")
    for p in items:
        table.add_row(Text(p.name), Text(p.owner), Text(p.description), _minutes(p.create_time))
    return table


def summary(s: ProjectSummary) -> RenderableType:
    counts = _details(
        [
            ("project", s.project.name),
            ("owner", s.project.owner),
            ("models", f"{s.model_count} ({s.archived_model_count} archived)"),
            ("versions", str(s.version_count)),
        ]
    )
    stages = _table("STAGE", "VERSIONS")
    for stage in (Stage.DEVELOPMENT, Stage.VALIDATION, Stage.PRODUCTION, Stage.ARCHIVED):
        stages.add_row(_cell(stage), str(s.versions_by_stage.get(stage, 0)))
    metric = None
    if s.metric is not None:
        m = s.metric
        metric = _table(f"METRIC {m.name}", "VALUE", "VERSION")
        metric.add_row("min", fmt(m.min), Text(m.min_reference))
        metric.add_row("max", fmt(m.max), Text(m.max_reference))
        metric.add_row("versions with it", str(m.count), "")
    owners = None
    if s.owners:
        owners = _table("OWNER", "TEAM", "MODELS")
        for o in s.owners:
            owners.add_row(Text(o.owner), Text(o.team), str(o.models))
    return _group(counts, stages, metric, owners)


def model(m: Model) -> RenderableType:
    return _details(
        [
            ("model", m.full_name),
            ("kind", m.kind),
            ("description", m.description),
            ("owner", m.owner),
            ("team", m.team),
            ("latest version", m.latest_version or None),
            ("lifecycle", _lifecycle(m)),
            ("aliases", ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items()))),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(m.tags.items()))),
            ("code", m.code_location),
            ("data", m.data_location),
            ("archived", m.archived or None),
            ("created", m.create_time),
            ("updated", m.update_time),
        ]
    )


def _lifecycle(m: Model) -> str | None:
    """The model's lifecycle indicator: its champion's (else newest version's) stage and status."""
    shown = m.lifecycle
    return f"{shown.version}: {shown.stage} {shown.status}" if shown else None


def models(items: Sequence[Model]) -> RenderableType:
    table = _table("MODEL", "KIND", "OWNER", "TEAM", "LATEST", "LIFECYCLE", "ALIASES", "TAGS")
    for m in items:
        name = Text(m.full_name + (" (archived)" if m.archived else ""), style="dim" if m.archived else "")
        table.add_row(
            name,
            _cell(m.kind),
            Text(m.owner),
            Text(m.team),
            str(m.latest_version or ""),
            Text(_lifecycle(m) or ""),
            Text(", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items()))),
            Text(", ".join(f"{k}={v}" for k, v in sorted(m.tags.items()))),
        )
    return table


# --- versions ------------------------------------------------------------------------------


def _status(v: ModelVersion) -> Text:
    text = _cell(v.status)
    if v.status_message:
        text.append(f" ({v.status_message})")
    return text


def _ensemble(serving: Serving | None) -> str:
    if serving is None or not serving.members:
        return ""
    return f"{serving.ensemble_method.value.lower()} of {', '.join(serving.members)}"


def version(v: ModelVersion) -> RenderableType:
    details = _details(
        [
            ("version", v.reference),
            ("stage", v.stage),
            ("status", v.status),
            ("status message", v.status_message),
            ("aliases", ", ".join(v.aliases)),
            ("framework", v.framework),
            ("format", v.payload_format),
            ("author", v.author),
            ("description", v.description),
            ("tags", ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))),
            ("produced by", ", ".join(v.produced_by)),
            ("entry point", v.serving.entry_point if v.serving else ""),
            ("ensemble", _ensemble(v.serving)),
            ("code", v.code_location),
            ("data", v.data_location),
            ("created", v.create_time),
            ("updated", v.update_time),
        ]
    )
    signature = None
    if v.signature.inputs or v.signature.outputs:
        signature = _table("SIGNATURE", "TENSOR", "DATATYPE", "SHAPE")
        for kind, specs in (("input", v.signature.inputs), ("output", v.signature.outputs)):
            for spec in specs:
                signature.add_row(kind, Text(spec.name), spec.datatype, fmt(list(spec.shape)))
    dependencies = None
    if v.dependencies:
        dependencies = _table("DEPENDENCY", "VERSION", "SCOPE")
        for d in v.dependencies:
            dependencies.add_row(Text(d.library), Text(d.version or "any"), fmt(d.scope).lower())
    files = None
    if v.artifact is not None and v.artifact.files:
        files = _files(v.artifact.files, title=f"artifact: {human_size(v.artifact.total_size)}")
    return _group(
        details,
        signature,
        _pairs("PARAM", v.hyperparameters),
        dependencies,
        _pairs("METRIC", {**v.metrics, **v.custom_metrics}),
        files,
    )


def versions(items: Sequence[ModelVersion]) -> RenderableType:
    table = _table("VERSION", "STAGE", "STATUS", "FRAMEWORK", "ALIASES", "METRICS", "CREATED")
    for v in items:
        shown = sorted(v.metrics.items())[:_MAX_METRICS_IN_LIST]
        metrics = ", ".join(f"{k}={fmt(val)}" for k, val in shown)
        if len(v.metrics) > _MAX_METRICS_IN_LIST:
            metrics += ", ..."
        table.add_row(
            Text(v.reference),
            _cell(v.stage),
            _status(v),
            Text(v.framework),
            Text(", ".join(v.aliases)),
            Text(metrics),
            _minutes(v.create_time),
        )
    return table


def consumers(c: VersionConsumers) -> RenderableType:
    """Who consumes a version, then how many distinct teams they are in."""
    teams = f"{c.team_count} team{'s use' if c.team_count != 1 else ' uses'} it"
    if not c.consumers:
        return _group(Text(f"no one has pulled or deployed {c.reference} yet"), Text(teams))
    table = _table("PRINCIPAL", "TEAMS", "KIND", "DETAIL", "FIRST", "LAST")
    for u in c.consumers:
        table.add_row(
            Text(u.principal),
            Text(", ".join(u.teams)),
            _cell(u.kind),
            Text(u.detail),
            _minutes(u.first_time),
            _minutes(u.last_time),
        )
    return _group(table, Text(teams))


def metric_history(points: Sequence[MetricPoint]) -> RenderableType:
    table = _table("STEP", "TIME", "VALUE")
    for p in points:
        table.add_row(str(p.step), _cell(p.time), _cell(p.value))
    return table


def alias_change(change: AliasChange) -> RenderableType:
    line = Text(f"{change.model}@{change.alias}")
    if change.version is not None:
        line.append(f" -> {change.version.version}")
        line.append(f" (was {change.previous_version})" if change.previous_version else " (new)", style="dim")
    else:
        line.append(f" deleted (pointed at {change.previous_version})")
    return line


# --- artifacts -----------------------------------------------------------------------------


def artifact(a: ArtifactStatus) -> RenderableType:
    """The committed files of a READY version; those uploaded so far and the uploads in
    progress of a PENDING_UPLOAD one."""
    shown = a.files or a.uploaded
    details = _details(
        [
            ("version", a.reference),
            ("status", a.status),
            ("files", f"{len(shown)} ({human_size(sum(f.size for f in shown))})" if shown else None),
        ]
    )
    sessions = None
    if a.sessions:
        sessions = _table("UPLOADING", "DURABLE", "SIZE", "SHA-256", title="uploads in progress")
        for s in a.sessions:
            share = f" ({s.offset / s.size:.0%})" if s.size else ""
            sessions.add_row(Text(s.path), human_size(s.offset) + share, human_size(s.size), s.sha256[:_SHORT_SHA])
    return _group(
        details,
        _files(a.files) if a.files else None,
        _files(a.uploaded, title="uploaded, not committed yet") if a.uploaded else None,
        sessions,
    )


def pulled(result: dict[str, Any]) -> RenderableType:
    """What ``pull`` did: the version, where its files are now, and the files."""
    line = Text(f"pulled {result['reference']} into {result['destination']}")
    return _group(line, _files(result["files"]))


# --- lineage, comparison, audit ------------------------------------------------------------


def lineage(graph: Lineage) -> RenderableType:
    """One row per version, upstream first; FED BY lists the versions whose output it consumes."""
    feeds: dict[str, list[str]] = {}
    for edge in graph.edges:
        feeds.setdefault(edge.to_reference, []).append(edge.from_reference)
    table = _table("DEPTH", "VERSION", "STAGE", "STATUS", "FED BY")
    for node in sorted(graph.nodes, key=lambda n: (n.depth, n.reference)):
        name = Text(node.reference, style="bold" if node.reference == graph.root else "")
        fed_by = Text(", ".join(sorted(feeds.get(node.reference, []))))
        table.add_row(f"{node.depth:+d}" if node.depth else "0", name, _cell(node.stage), _cell(node.status), fed_by)
    if graph.left_out:
        table.caption = f"{graph.left_out} more in projects you cannot read, not shown"
    return table


def comparison(c: Comparison, *, only_differences: bool = False) -> RenderableType:
    """Versions side by side: a column each, a row per field; rows that differ stand out."""
    table = _table("", *(v.reference for v in c.versions))
    for title, rows in (("metadata", c.metadata), ("params", c.params), ("metrics", c.metrics)):
        shown = [r for r in rows if r.differs or not only_differences]
        if not shown:
            continue
        if table.row_count:
            table.add_section()
        table.add_row(Text(title, style="bold underline"))
        for row in shown:
            key = Text(("* " if row.differs else "  ") + row.key)
            values = (Text("-", style="dim") if v is None else Text(fmt(v)) for v in row.values)
            table.add_row(key, *values, style="bold yellow" if row.differs else "")
    return table


def audit_events(events: Sequence[AuditEvent]) -> RenderableType:
    table = _table("ID", "TIME", "ACTOR", "ACTION", "RESOURCE", "REASON", "ACCESS")
    for e in events:
        table.add_row(
            str(e.id), _cell(e.time), Text(e.actor), Text(e.action), Text(e.resource), Text(e.reason), Text(e.access)
        )
    return table


def audit_line(e: AuditEvent) -> RenderableType:
    line = Text(f"{fmt(e.time)}  #{e.id}  ")
    line.append(e.actor, style="bold")
    line.append(f"  {e.action}  {e.resource}")
    if e.reason:
        line.append(f"  ({e.reason})", style="dim")
    if e.access:
        line.append(f"  [{e.access}]", style="dim")
    return line


# --- authentication and project roles ------------------------------------------------------


def principal(p: Principal) -> RenderableType:
    rows = [("principal", p.name), ("kind", p.kind), ("admin", p.admin)]
    return _details(
        [*rows, ("teams", ", ".join(p.teams)), ("members", ", ".join(p.members)), ("created", p.created_at)]
    )


def principals(items: Sequence[Principal]) -> RenderableType:
    table = _table("PRINCIPAL", "KIND", "ADMIN", "TEAMS", "MEMBERS", "CREATED")
    for p in items:
        teams, members = Text(", ".join(p.teams)), Text(", ".join(p.members))
        table.add_row(Text(p.name), _cell(p.kind), _cell(p.admin), teams, members, _minutes(p.created_at))
    return table


def token(t: Token) -> RenderableType:
    return _details(
        [
            ("token", t.id),
            ("principal", t.principal),
            ("description", t.description),
            ("created by", t.created_by),
            ("created", t.created_at),
            ("expires", t.expires_at or "never"),
            ("last used", t.last_used_at),
            ("revoked", t.revoked_at),
        ]
    )


def new_token(n: NewToken) -> RenderableType:
    """The token, then its secret, printed this once, in the line that puts it to use."""
    hint = Text("The secret is shown only now. Use it with:\n", style="bold")
    hint.append(f"  export MODELYARD_TOKEN={n.secret}", style="")
    return _group(token(n.token), Text(""), hint)


def tokens(items: Sequence[Token]) -> RenderableType:
    table = _table("ID", "PRINCIPAL", "DESCRIPTION", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
    for t in items:
        table.add_row(
            Text(t.id),
            Text(t.principal),
            Text(t.description),
            _minutes(t.created_at),
            _minutes(t.expires_at) if t.expires_at else Text("never", style="dim"),
            _minutes(t.last_used_at),
            _minutes(t.revoked_at),
        )
    return table


def role_binding(b: RoleBinding) -> RenderableType:
    rows = [("project", b.project), ("principal", b.principal), ("role", b.role)]
    return _details([*rows, ("granted by", b.granted_by), ("granted", b.granted_at)])


def role_bindings(items: Sequence[RoleBinding]) -> RenderableType:
    table = _table("PROJECT", "PRINCIPAL", "ROLE", "GRANTED BY", "GRANTED")
    for b in items:
        table.add_row(Text(b.project), Text(b.principal), _cell(b.role), Text(b.granted_by), _minutes(b.granted_at))
    return table


def whoami(w: WhoAmI) -> RenderableType:
    return _group(principal(w.principal), role_bindings(w.roles) if w.roles else None)


# --- deployments ---------------------------------------------------------------------------


def deployment(d: Deployment) -> RenderableType:
    details = _details(
        [
            ("name", d.name),
            ("state", d.state),
            ("status", d.status_message),
            ("model", d.model_reference),
            ("version", d.version_reference),
            ("revision", d.revision),
            ("this change's revision", d.created_revision or None),
            ("replicas", f"{d.ready_replicas}/{d.replicas} ready"),
            ("runtime", d.runtime),
            ("endpoints", ", ".join(d.endpoints)),
            ("created by", d.created_by),
            ("created", d.create_time),
            ("updated", d.update_time),
        ]
    )
    if not d.replica_status:
        return details
    table = _table("REPLICA", "REVISION", "STATE", "ENDPOINT", "RESTARTS", "MESSAGE", title="replicas")
    for r in d.replica_status:
        table.add_row(Text(r.id), str(r.revision), _cell(r.state), Text(r.endpoint), str(r.restarts), Text(r.message))
    return _group(details, table)


def deployments(items: Sequence[Deployment]) -> RenderableType:
    table = _table("NAME", "STATE", "VERSION", "REVISION", "READY", "RUNTIME", "UPDATED")
    for d in items:
        table.add_row(
            Text(d.name),
            _cell(d.state),
            Text(d.version_reference),
            str(d.revision),
            f"{d.ready_replicas}/{d.replicas}",
            _cell(d.runtime),
            _minutes(d.update_time),
        )
    return table


def deployment_line(d: Deployment) -> RenderableType:
    line = Text(f"{fmt(d.update_time)}  ")
    line.append(d.name, style="bold")
    line.append("  ")
    line.append_text(_cell(d.state))
    line.append(f"  revision {d.revision} {d.version_reference}  {d.ready_replicas}/{d.replicas} ready")
    if d.status_message:
        line.append(f"  ({d.status_message})", style="dim")
    return line


def revisions(items: Sequence[DeploymentRevision]) -> RenderableType:
    table = _table("REVISION", "VERSION", "ASKED FOR", "ACTOR", "REASON", "CREATED")
    for r in items:
        table.add_row(
            str(r.revision),
            Text(r.version_reference),
            Text(r.model_reference),
            Text(r.actor),
            Text(r.reason),
            _minutes(r.create_time),
        )
    return table


def predictions(outputs: dict[str, Any]) -> RenderableType:
    """Outputs by name: one row per example when every output has the same first dimension,
    else one row holding each output whole."""
    lengths = {len(values) if isinstance(values, list) else -1 for values in outputs.values()}
    rows = lengths.pop() if len(lengths) == 1 else -1
    table = _table("#", *outputs)
    if rows < 0:
        table.add_row("", *(_cell(_rounded(values)) for values in outputs.values()))
    for index in range(rows):
        table.add_row(str(index), *(_cell(_rounded(values[index])) for values in outputs.values()))
    return table


def _rounded(value: Any) -> Any:
    """Floats, also inside lists, to 6 significant digits (as ``fmt`` shows a lone float)."""
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return float(f"{value:.6g}") if isinstance(value, float) else value


def job(j: Job) -> RenderableType:
    return _details(
        [
            ("id", j.id),
            ("state", j.state),
            ("error", j.error),
            ("model", j.model_reference),
            ("version", j.version_reference),
            ("input", j.input_dataset),
            ("key", j.key_column),
            ("inputs", "; ".join(f"{i.name} <- {', '.join(i.columns)}" for i in j.inputs)),
            ("output", j.output_version or j.output_dataset),
            ("chunks", f"{j.chunks_done}/{j.chunks_total} of {j.chunk_rows} rows"),
            ("rows", f"{j.rows_done}/{j.rows_total}"),
            ("workers", j.workers),
            ("created by", j.created_by),
            ("created", j.created_at),
            ("finished", j.finished_at),
        ]
    )


def jobs(items: Sequence[Job]) -> RenderableType:
    table = _table("ID", "STATE", "VERSION", "INPUT", "ROWS", "OUTPUT", "CREATED")
    for j in items:
        table.add_row(
            Text(j.id),
            _cell(j.state),
            Text(j.version_reference),
            Text(j.input_dataset),
            f"{j.rows_done}/{j.rows_total}",
            Text(j.output_version or j.output_dataset),
            fmt(j.created_at),
        )
    return table


def job_line(j: Job) -> RenderableType:
    detail = j.error or j.output_version
    return Text(
        f"{j.id}  {j.state}  chunks {j.chunks_done}/{j.chunks_total}  rows {j.rows_done}/{j.rows_total}"
        + (f"  {detail}" if detail else "")
    )
