"""Parsers for structured command-line values; pure functions raising ValueError.

``as_click`` adapts one to a click option callback (ValueError -> usage error, exit code 2).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from modelyard import Dependency, DependencyScope, SourceLocation, TensorSpec

__all__ = [
    "OIP_DATATYPES",
    "as_click",
    "load_metrics_json",
    "parse_dependency",
    "parse_inputs",
    "parse_json_value",
    "parse_key_value",
    "parse_location",
    "parse_metric",
    "parse_metrics",
    "parse_params",
    "parse_since",
    "parse_tags",
    "parse_tensor",
    "parse_ttl",
]

OIP_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}
)
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

T = TypeVar("T")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def parse_json_value(text: str) -> Any:
    """``6`` -> 6, ``0.1`` -> 0.1, ``true`` -> True, ``[1,2]`` -> [1, 2]; anything that is not
    JSON (``gini``, ``NaN``) stays the string it is."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def parse_key_value(text: str) -> tuple[str, str]:
    """``"key=value"`` -> ("key", "value"); the value may contain "=" and may be empty."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ValueError(f"{text!r}: expected KEY=VALUE")
    return key, value


def _collect(pairs: Iterable[tuple[str, T]], what: str) -> dict[str, T]:
    result: dict[str, T] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"{what} {key!r} given twice")
        result[key] = value
    return result


def parse_tags(texts: Iterable[str]) -> dict[str, str]:
    """``["team=risk", "tier=1"]`` -> {"team": "risk", "tier": "1"} (values stay strings)."""
    return _collect((parse_key_value(t) for t in texts), "tag")


def parse_params(texts: Iterable[str]) -> dict[str, Any]:
    """``["max_depth=6", "criterion=gini"]`` -> {"max_depth": 6, "criterion": "gini"}."""
    pairs = (parse_key_value(t) for t in texts)
    return _collect(((key, parse_json_value(value)) for key, value in pairs), "param")


def _input_columns(text: str) -> tuple[str, tuple[str, ...]]:
    name, equals, columns = text.partition("=")
    stacked = tuple(c.strip() for c in columns.split(",") if c.strip())
    if not equals or not name.strip() or not stacked:
        raise ValueError(f"{text!r} is not NAME=COLUMN[,COLUMN...]")
    return name.strip(), stacked


def parse_inputs(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``["x=f0,f1", "y=f2"]`` -> {"x": ("f0", "f1"), "y": ("f2",)}: the dataset columns stacked,
    in order, into each model input (a score definition's, a job's)."""
    return _collect((_input_columns(t) for t in texts), "input")


def parse_tensor(text: str) -> TensorSpec:
    """``"features:FP32:-1,4"`` -> TensorSpec("features", "FP32", (-1, 4)); the shape may be
    left out for a scalar (``"label:INT64"``)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip():
        raise ValueError(f"{text!r}: expected NAME:DATATYPE:SHAPE, e.g. features:FP32:-1,4")
    name, datatype = parts[0].strip(), parts[1].strip().upper()
    if datatype not in OIP_DATATYPES:
        raise ValueError(f"{text!r}: datatype {parts[1]!r} is not one of {', '.join(sorted(OIP_DATATYPES))}")
    shape_text = parts[2].strip() if len(parts) == 3 else ""
    try:
        shape = tuple(int(d) for d in shape_text.split(",")) if shape_text else ()
    except ValueError:
        raise ValueError(f"{text!r}: shape {shape_text!r} must be integers separated by commas") from None
    if any(d < -1 for d in shape):
        raise ValueError(f"{text!r}: dimensions are sizes, or -1 for a variable one")
    return TensorSpec(name=name, datatype=datatype, shape=shape)


def parse_dependency(text: str, scope: DependencyScope = DependencyScope.RUN) -> Dependency:
    """``"scikit-learn==1.5.2"`` -> Dependency("scikit-learn", "1.5.2", scope)."""
    return Dependency.parse(text, scope)


def parse_location(text: str) -> SourceLocation:
    """``"URI[#revision=REV&path=PATH]"`` -> SourceLocation, e.g.
    ``git+https://git.internal/risk/churn.git#revision=4f2a9c1&path=train``."""
    uri, _, fragment = text.partition("#")
    if not uri.strip():
        raise ValueError(f"{text!r}: expected URI[#revision=REV&path=PATH]")
    keys: dict[str, str] = {}
    for part in fragment.split("&") if fragment else ():
        key, equals, value = part.partition("=")
        if not equals or key not in ("revision", "path") or key in keys:
            raise ValueError(f"{text!r}: after '#' expected revision=REV and/or path=PATH, joined by '&'")
        keys[key] = value
    return SourceLocation(uri=uri.strip(), revision=keys.get("revision", ""), path=keys.get("path", ""))


def parse_metric(text: str) -> tuple[str, float | dict[str, Any]]:
    """``"accuracy=0.93"`` -> ("accuracy", 0.93); a JSON object value makes a structured
    metric: ``'importance={"age": 0.3}'``."""
    name, raw = parse_key_value(text)
    value = parse_json_value(raw)
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        raise ValueError(f"{text!r}: the value must be a number or a JSON object")
    return name, float(value) if isinstance(value, int | float) else value


def parse_metrics(texts: Iterable[str]) -> dict[str, float | dict[str, Any]]:
    return _collect((parse_metric(t) for t in texts), "metric")


def load_metrics_json(path: str) -> dict[str, float | dict[str, Any]]:
    """Reads ``{"accuracy": 0.93, "importance": {"age": 0.3}}`` from a file ("-": stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object of metric name -> number or object")
    metrics: dict[str, float | dict[str, Any]] = {}
    for name, value in document.items():
        if isinstance(value, bool) or not isinstance(value, int | float | dict):
            raise ValueError(f"{path}: metric {name!r} must be a number or an object")
        metrics[name] = float(value) if isinstance(value, int | float) else value
    return metrics


def _duration(text: str) -> timedelta | None:
    """``"90m"`` -> 90 minutes (units s, m, h, d, w); None when ``text`` is not so written."""
    match = _DURATION.match(text.strip())
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_ttl(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``: how long a token stays valid."""
    ttl = _duration(text)
    if ttl is None:
        raise ValueError(f"{text!r}: expected a duration like 30d, 12h or 90m")
    if not ttl:
        raise ValueError(f"{text!r}: must be longer than 0 (leave --ttl out for a token that does not expire)")
    return ttl


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``"2h"``, ``"30m"``, ``"7d"`` (ago), or an ISO 8601 time (UTC when no offset is given)."""
    ago = _duration(text)
    if ago is not None:
        return (now or datetime.now(UTC)) - ago
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: expected a duration like 2h / 30m / 7d or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_click(parse: Callable[[Any], T], *, each: bool = True) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback applying ``parse`` to the option's value: to each value of a repeated
    option, or (``each=False``) to the tuple of them all."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            if value is None:
                return None
            if isinstance(value, tuple) and each:
                return tuple(parse(v) for v in value)
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback
