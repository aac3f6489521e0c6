"""``modelyard score ...``: a model's score definition, its scoring tests, and their runs."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import click
from rich.console import Console, RenderableType
from rich.text import Text

from modelyard import ScoreDefinition, ScoreTask, ScoreThreshold, ScoringRun, ScoringRunState, ScoringTest
from modelyard.cli._app import State, emit, emit_list, pass_state, reason_option, trust_type_option
from modelyard.cli._parsing import as_click, parse_inputs
from modelyard.cli._render import _cell, _details, _group, _minutes, _table

_TASKS = [t.value.lower() for t in ScoreTask if t is not ScoreTask.UNSPECIFIED]
_GATED = ["validation", "production"]
_THRESHOLD = re.compile(r"\s*([A-Za-z0-9_]+)\s*(>=|<=)\s*(\S+)\s*")
_STATE_STYLES = {
    ScoringRunState.PASSED: "green",
    ScoringRunState.FAILED: "bold red",
    ScoringRunState.ERROR: "bold red",
    ScoringRunState.RUNNING: "cyan",
    ScoringRunState.QUEUED: "yellow",
}


def parse_threshold(text: str) -> tuple[str, str, float]:
    """ "accuracy>=0.8" -> ("accuracy", ">=", 0.8)."""
    match = _THRESHOLD.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not METRIC>=NUMBER or METRIC<=NUMBER")
    try:
        return match[1], match[2], float(match[3])
    except ValueError:
        raise ValueError(f"{text!r}: {match[3]!r} is not a number") from None


def _thresholds(parsed: Sequence[tuple[str, str, float]]) -> dict[str, ScoreThreshold]:
    """Bounds on one metric join into one threshold (``accuracy>=0.8 --threshold accuracy<=1``)."""
    found: dict[str, ScoreThreshold] = {}
    for metric, op, value in parsed:
        low, high = (found[metric].min, found[metric].max) if metric in found else (None, None)
        found[metric] = ScoreThreshold(metric, value if op == ">=" else low, value if op == "<=" else high)
    return found


def _state(state: ScoringRunState) -> Text:
    return Text(state.value, style=_STATE_STYLES.get(state, ""))


def _bounds(t: ScoreThreshold) -> str:
    parts = ([f">= {t.min:g}"] if t.min is not None else []) + ([f"<= {t.max:g}"] if t.max is not None else [])
    return f"{t.metric} {' and '.join(parts)}"


def render_definition(d: ScoreDefinition) -> RenderableType:
    inputs = "; ".join(f"{i.input} = {', '.join(i.columns)}" for i in d.inputs)
    return _details(
        [
            ("model", d.model),
            ("task", d.task.value),
            ("inputs", inputs),
            ("label column", d.label_column),
            ("prediction output", d.prediction_output),
            ("probability output", d.probability_output),
            ("metrics", ", ".join(d.metrics) or "all of the task's"),
            ("average", d.average),
            ("positive label", d.positive_label),
            ("thresholds", "; ".join(_bounds(t) for t in d.thresholds)),
            ("updated by", d.updated_by),
            ("updated", d.updated_at),
        ]
    )


def render_test(t: ScoringTest) -> RenderableType:
    last = t.last_run
    return _details(
        [
            ("id", t.id),
            ("test", f"{t.model} {t.name}"),
            ("target", t.target),
            ("dataset", t.dataset),
            ("schedule", f"{t.schedule} (UTC)" if t.schedule else ""),
            ("next run", t.next_run_at),
            ("active", "yes" if t.active else "no"),
            ("required for", ", ".join(s.value for s in t.required_for)),
            ("description", t.description),
            ("trusted types", ", ".join(t.trusted_types)),
            ("last run", f"{last.state.value} {last.model_version} ({last.id})" if last else "none"),
            ("created by", t.created_by),
            ("created", t.created_at),
        ]
    )


def render_tests(items: Sequence[ScoringTest]) -> RenderableType:
    table = _table("ID", "MODEL", "TEST", "TARGET", "DATASET", "SCHEDULE", "GATES", "LAST RUN")
    for t in items:
        last = _state(t.last_run.state) if t.last_run else Text("")
        table.add_row(
            Text(t.id),
            Text(t.model),
            Text(t.name + ("" if t.active else " (inactive)")),
            Text(t.target),
            Text(t.dataset),
            Text(t.schedule),
            Text(", ".join(s.value for s in t.required_for)),
            last,
        )
    return table


def render_run(r: ScoringRun) -> RenderableType:
    details = _details(
        [
            ("run", r.id),
            ("test", f"{r.test_name} ({r.test_id})"),
            ("version", r.model_version),
            ("dataset", r.dataset),
            ("state", _state(r.state)),
            ("message", r.message),
            ("trigger", r.trigger),
            ("scheduled for", r.scheduled_for),
            ("requested by", r.requested_by),
            ("created", r.created_at),
            ("started", r.started_at),
            ("finished", r.finished_at),
            ("rows", r.rows or ""),
            ("seconds", f"{r.duration_seconds:.2f}" if r.duration_seconds else ""),
        ]
    )
    metrics = _table("METRIC", "VALUE") if r.metrics else None
    for m in r.metrics:
        assert metrics is not None
        metrics.add_row(Text(m.name), _cell(m.value))
    return _group(details, metrics)


def render_runs(items: Sequence[ScoringRun]) -> RenderableType:
    table = _table("RUN", "TEST", "VERSION", "STATE", "TRIGGER", "CREATED", "MESSAGE")
    for r in items:
        table.add_row(
            Text(r.id),
            Text(r.test_name),
            Text(r.model_version),
            _state(r.state),
            Text(r.trigger),
            _minutes(r.created_at),
            Text(r.message),
        )
    return table


@click.group()
def score() -> None:
    """Score logic and scoring tests: how a model is scored on a dataset, which version is scored
    when, and the runs' results (docs/scoring.md)."""


@score.command("define")
@click.argument("model")
@click.option("--task", type=click.Choice(_TASKS), required=True, help="What the model predicts.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    callback=as_click(parse_inputs, each=False),
    help="INPUT=COLUMN[,COLUMN...]: the dataset columns stacked into the model's input INPUT (repeat per input).",
)
@click.option("--label", "label_column", required=True, help="The dataset column holding the true labels.")
@click.option("--prediction-output", default="", help="The output holding the predictions.  [default: the only one]")
@click.option("--probability-output", default="", help="The output holding class probabilities (roc_auc, log_loss).")
@click.option("--metric", "metrics", multiple=True, help="A metric to compute (repeat).  [default: all of the task's]")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=as_click(parse_threshold),
    help="METRIC>=NUMBER or METRIC<=NUMBER: a run passes only when every threshold holds (repeat).",
)
@click.option("--average", default="", help="macro, micro, weighted or binary (precision, recall, f1).")
@click.option("--positive-label", default="", help="Two classes: the positive one, as the label column spells it.")
@reason_option
@pass_state
def define(
    state: State,
    model: str,
    task: str,
    inputs: dict[str, tuple[str, ...]],
    label_column: str,
    prediction_output: str,
    probability_output: str,
    metrics: tuple[str, ...],
    thresholds: tuple[tuple[str, str, float], ...],
    average: str,
    positive_label: str,
    reason: str,
) -> None:
    """Set MODEL's score definition (replaces the one it has)."""
    definition = state.client.set_score_definition(
        model,
        task=task,
        inputs=inputs,
        label_column=label_column,
        prediction_output=prediction_output,
        probability_output=probability_output,
        metrics=metrics,
        thresholds=_thresholds(thresholds),
        average=average,
        positive_label=positive_label,
        reason=reason,
    )
    emit(state, definition, render_definition)


@score.command("show")
@click.argument("model")
@pass_state
def show(state: State, model: str) -> None:
    """Show MODEL's score definition."""
    emit(state, state.client.get_score_definition(model), render_definition)


@score.group("test")
def test() -> None:
    """A model's scoring tests."""


@test.command("create")
@click.argument("model")
@click.argument("name")
@click.option("--dataset", required=True, help="The dataset version scored: PROJECT/DATASET:N.")
@click.option("--version", type=int, default=None, help="Score this version.")
@click.option("--alias", default=None, help="Score the version the alias points to (and again when it moves).")
@click.option("--every-new-version", is_flag=True, help="Score each version as it becomes READY.")
@click.option("--schedule", default="", help="Also run on this 5-field cron schedule (UTC), e.g. '0 3 * * *'.")
@click.option(
    "--required-for",
    multiple=True,
    type=click.Choice(_GATED),
    help="A stage a version enters only once this test passed on it (project ADMIN; repeat).",
)
@click.option("--description", default="", help="What it checks.")
@trust_type_option("A type its runs trust in a skops file beyond skops' defaults (repeatable; as for a job).")
@pass_state
def test_create(
    state: State,
    model: str,
    name: str,
    dataset: str,
    version: int | None,
    alias: str | None,
    every_new_version: bool,
    schedule: str,
    required_for: tuple[str, ...],
    description: str,
    trusted_types: tuple[str, ...],
) -> None:
    """Create test NAME of MODEL: one of --version, --alias or --every-new-version."""
    if (version is not None) + (alias is not None) + every_new_version != 1:
        raise click.UsageError("give one of --version, --alias or --every-new-version")
    created = state.client.create_scoring_test(
        model,
        name,
        dataset=dataset,
        version=version,
        alias=alias,
        every_new_version=every_new_version,
        schedule=schedule,
        required_for=required_for,
        description=description,
        trusted_types=trusted_types,
    )
    emit(state, created, render_test)


@test.command("list")
@click.argument("parent")
@pass_state
def test_list(state: State, parent: str) -> None:
    """List the tests of PARENT: a model (PROJECT/MODEL) or a project."""
    emit_list(state, state.client.list_scoring_tests(parent), render_tests, "no scoring tests")


@test.command("get")
@click.argument("id")
@pass_state
def test_get(state: State, id: str) -> None:
    """Show test ID, with its last run."""
    emit(state, state.client.get_scoring_test(id), render_test)


@test.command("update")
@click.argument("id")
@click.option("--schedule", default=None, help="A new cron schedule ('' removes it).")
@click.option("--active/--inactive", default=None, help="Run it again, or stop running it.")
@click.option("--description", default=None, help="A new description.")
@click.option("--dataset", default=None, help="A new dataset version, PROJECT/DATASET:N.")
@click.option("--required-for", multiple=True, type=click.Choice(_GATED), help="The stages it gates from now on.")
@click.option("--no-gate", is_flag=True, help="Gate no stage from now on.")
@trust_type_option("The types its runs trust in skops files from now on (repeatable; replaces them).")
@click.option("--no-trust", is_flag=True, help="Trust no type beyond skops' defaults from now on.")
@reason_option
@pass_state
def test_update(
    state: State,
    id: str,
    schedule: str | None,
    active: bool | None,
    description: str | None,
    dataset: str | None,
    required_for: tuple[str, ...],
    no_gate: bool,
    trusted_types: tuple[str, ...],
    no_trust: bool,
    reason: str,
) -> None:
    """Change test ID; what is not given is kept."""
    gates = _replaced(required_for, no_gate, "--required-for", "--no-gate")
    trusted = _replaced(trusted_types, no_trust, "--trust-type", "--no-trust")
    changed = state.client.update_scoring_test(
        id,
        schedule=schedule,
        active=active,
        description=description,
        dataset=dataset,
        required_for=gates,
        trusted_types=trusted,
        reason=reason,
    )
    emit(state, changed, render_test)


def _replaced(given: tuple[str, ...], none: bool, option: str, flag: str) -> tuple[str, ...] | None:
    """A list an update replaces: ``given``, or empty with ``flag``; None (kept) when neither."""
    if given and none:
        raise click.UsageError(f"{option} and {flag} exclude each other")
    return () if none else (given or None)


@test.command("delete")
@click.argument("id")
@reason_option
@pass_state
def test_delete(state: State, id: str, reason: str) -> None:
    """Delete test ID (its runs, and the metrics they logged, stay)."""
    state.client.delete_scoring_test(id, reason=reason)
    emit(state, {"deleted": id}, lambda _: Text(f"deleted scoring test {id}"))


@score.command("run")
@click.argument("test_id")
@click.option("--version", type=int, default=0, help="Score this version of the test's model.  [default: its target]")
@click.option("--wait", is_flag=True, help="Wait until the run is finished; exit 1 unless it PASSED.")
@click.option("--wait-timeout", type=float, default=600.0, show_default=True, help="Seconds --wait waits.")
@pass_state
def run(state: State, test_id: str, version: int, wait: bool, wait_timeout: float) -> None:
    """Run test TEST_ID now (the deploy service scores it)."""
    queued = state.client.run_scoring_test(test_id, version=version)
    if not wait:
        emit(state, queued, render_run)
        return
    console = Console(stderr=True)
    if console.is_terminal and not state.as_json:
        with console.status(f"scoring run {queued.id} is queued; waiting for its result..."):
            finished = state.client.wait_scoring_run(queued.id, wait_timeout)
    else:
        finished = state.client.wait_scoring_run(queued.id, wait_timeout)
    emit(state, finished, render_run)
    if finished.state is not ScoringRunState.PASSED:
        sys.exit(1)


@score.command("runs")
@click.option("--test", "test_id", default="", help="The runs of this test.")
@click.option("--version", "model_version", default="", help="The runs that scored this version, PROJECT/MODEL:N.")
@click.option(
    "--state",
    "state_name",
    type=click.Choice([s.value.lower() for s in ScoringRunState if s is not ScoringRunState.UNSPECIFIED]),
    default=None,
    help="Only the runs in this state.",
)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many; 0: all.")
@pass_state
def runs(state: State, test_id: str, model_version: str, state_name: str | None, limit: int) -> None:
    """List runs, newest first: of a test (--test), of a version (--version), or of a test on a version (both)."""
    if not test_id and not model_version:
        raise click.UsageError("give --test, --version or both")
    found = state.client.list_scoring_runs(
        test_id=test_id, model_version=model_version, state=state_name, limit=limit or None
    )
    emit_list(state, list(found), render_runs, "no scoring runs")


@score.command("get")
@click.argument("run_id")
@pass_state
def get(state: State, run_id: str) -> None:
    """Show scoring run RUN_ID, with its metrics."""
    emit(state, state.client.get_scoring_run(run_id), render_run)
