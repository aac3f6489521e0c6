"""Checks on names, references, sizes and what a change carries; each failure names the field and
what is wrong."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.entities import (
    Dependency,
    MetricPoint,
    Model,
    ModelKind,
    ModelVersion,
    Serving,
    SourceLocation,
    TensorSpec,
    VersionSpec,
)
from modelyard_metadata.domain.json_bounds import check_json_object
from modelyard_metadata.domain.limits import (
    MAX_DEPENDENCIES,
    MAX_DIMENSIONS,
    MAX_FILES,
    MAX_LOCATION,
    MAX_MEMBERS,
    MAX_METRICS_JSON_BYTES,
    MAX_METRICS_PER_CALL,
    MAX_NAME,
    MAX_PARENTS,
    MAX_REFERENCE,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_TENSORS,
    MAX_TEXT,
    MAX_VERSION,
)

__all__ = [
    "DATATYPES",
    "MODEL_FIELDS",
    "VERSION_FIELDS",
    "VersionRef",
    "check_alias",
    "check_artifact_files",
    "check_audit_filter",
    "check_dependencies",
    "check_key",
    "check_location",
    "check_metric_points",
    "check_model_changes",
    "check_name",
    "check_number",
    "check_produced_by",
    "check_serving",
    "check_structured_total",
    "check_tags",
    "check_tensors",
    "check_text",
    "check_version_changes",
    "check_version_spec",
    "member_refs",
    "parse_dataset_name",
    "parse_dataset_reference",
    "parse_model_name",
    "parse_reference",
]

DATATYPES = frozenset(
    ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]
)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ALIAS = re.compile(r"[a-z][a-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"
_ALIAS_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter"


def check_name(field: str, value: str) -> str:
    """A project or model name (also alias names, which must start with a letter)."""
    if not value:
        raise InvalidArgumentError(field, "is required")
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(field, f"is {len(value)} characters long; at most {MAX_NAME} allowed")
    if not _NAME.fullmatch(value):
        raise InvalidArgumentError(field, f"{value!r} is not a valid name: use {_NAME_RULE}")
    return value


def check_alias(field: str, value: str) -> str:
    check_name(field, value)
    if not _ALIAS.fullmatch(value):
        raise InvalidArgumentError(field, f"{value!r} is not a valid alias: it must start with a letter")
    return value


def check_key(field: str, value: str) -> str:
    """A tag, metric or parameter key."""
    if not value or len(value) > MAX_TAG_KEY or not _KEY.fullmatch(value):
        raise InvalidArgumentError(
            field,
            f"{value!r} is not a valid key: 1 to {MAX_TAG_KEY} letters, digits, '.', '_', '-' or '/', "
            "starting with a letter or digit",
        )
    return value


def check_text(field: str, value: str, limit: int = MAX_TEXT) -> str:
    """Free text of at most ``limit`` characters, without NUL (which Postgres text cannot hold)."""
    if len(value) > limit:
        raise InvalidArgumentError(field, f"is {len(value)} characters long; at most {limit} allowed")
    if "\x00" in value:
        raise InvalidArgumentError(field, "contains a NUL character, which cannot be stored")
    return value


def check_tags(field: str, tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(field, f"has {len(tags)} entries; at most {MAX_TAGS} allowed")
    for key, value in tags.items():
        check_key(f"{field}[{key!r}]", key)
        check_text(f"{field}[{key!r}]", value, MAX_TAG_VALUE)
    return dict(tags)


def check_number(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidArgumentError(field, f"must be a finite number, got {value}")
    return value


_MODEL_FORM = "use project/model"
_QUOTED = MAX_REFERENCE  # characters of a malformed name or reference quoted in its error
_QUOTED_BESIDE_A_LENGTH = 40  # ... when the error is that a part of it is too long
_REFERENCE_FORMS = "use project/model:VERSION, project/model@ALIAS or project/model (its latest READY version)"


def _quoted(text: str, limit: int = _QUOTED) -> str:
    """``text`` as an error quotes it: repr, cut after ``limit`` characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}..."


def parse_model_name(field: str, text: str) -> tuple[str, str]:
    """'project/model' -> (project, model); a failure says what is wrong with ``text``."""
    return _split_name(field, text, text, _MODEL_FORM)


def _split_name(field: str, name: str, text: str, forms: str, noun: str = "model") -> tuple[str, str]:
    """The project and model (or dataset: ``noun``) of ``name``, the part of ``text`` before any
    ':' or '@'; each failure quotes ``text`` and says what is wrong with it, then ``forms``."""
    project, slash, model = name.partition("/")
    if not text:
        raise InvalidArgumentError(field, f"is required: {forms}")
    if not name:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project/{noun} before {text[0]!r}: {forms}")
    if not slash:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project: {forms}")
    if not project:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project before '/': {forms}")
    if not model:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no {noun} after '/': {forms}")
    if "/" in model:
        raise InvalidArgumentError(field, f"{_quoted(text)} has more than one '/': {forms}")
    return _check_part(field, "project", project, text), _check_part(field, noun, model, text)


def _check_part(field: str, what: str, value: str, text: str) -> str:
    """The project, model or alias named in ``text``, checked as ``check_name`` and
    ``check_alias`` do."""
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(
            field,
            f"the {what} in {_quoted(text, _QUOTED_BESIDE_A_LENGTH)} is {len(value)} characters long; "
            f"at most {MAX_NAME} allowed",
        )
    pattern, noun, rule = (_ALIAS, "alias", _ALIAS_RULE) if what == "alias" else (_NAME, "name", _NAME_RULE)
    if not pattern.fullmatch(value):
        raise InvalidArgumentError(field, f"{what} {value!r} in {_quoted(text)} is not a valid {noun}: use {rule}")
    return value


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed textual reference: exactly one of version and alias, or neither (latest READY)."""

    project: str
    model: str
    version: int | None = None
    alias: str | None = None

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model_name}:{self.version}"
        if self.alias is not None:
            return f"{self.model_name}@{self.alias}"
        return self.model_name


def parse_reference(text: str, field: str = "reference") -> VersionRef:
    """'p/m:3', 'p/m@alias' or 'p/m' (latest READY version); a failure says what is wrong with
    ``text``, e.g. "reference: '/scorer:1' has no project before '/': use project/model:VERSION,
    ..."."""
    if not text:
        raise InvalidArgumentError(field, f"is required: {_REFERENCE_FORMS}")
    if len(text) > MAX_REFERENCE:
        raise InvalidArgumentError(field, f"is {len(text)} characters long; at most {MAX_REFERENCE} allowed")
    if "@" in text and ":" in text:
        raise InvalidArgumentError(
            field, f"{_quoted(text)} has both a version (':') and an alias ('@'): {_REFERENCE_FORMS}"
        )
    if "@" in text:
        name, _, alias = text.partition("@")
        project, model = _split_name(field, name, text, _REFERENCE_FORMS)
        if not alias:
            raise InvalidArgumentError(field, f"{_quoted(text)} has no alias after '@': {_REFERENCE_FORMS}")
        if "@" in alias:
            raise InvalidArgumentError(field, f"{_quoted(text)} has more than one '@': {_REFERENCE_FORMS}")
        return VersionRef(project, model, alias=_check_part(field, "alias", alias, text))
    if ":" in text:
        name, _, number = text.partition(":")
        project, model = _split_name(field, name, text, _REFERENCE_FORMS)
        if not number:
            raise InvalidArgumentError(field, f"{_quoted(text)} has no version after ':': {_REFERENCE_FORMS}")
        if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_VERSION:
            raise InvalidArgumentError(
                field, f"version {number!r} in {_quoted(text)} is not a positive integer of at most {MAX_VERSION}"
            )
        return VersionRef(project, model, version=int(number))
    project, model = _split_name(field, text, text, _REFERENCE_FORMS)
    return VersionRef(project, model)


_DATASET_FORM = "use project/dataset"
_DATASET_REFERENCE_FORMS = "use project/dataset:VERSION or project/dataset (its latest READY version)"


def parse_dataset_name(field: str, text: str) -> tuple[str, str]:
    """'project/dataset' -> (project, dataset)."""
    return _split_name(field, text, text, _DATASET_FORM, "dataset")


def parse_dataset_reference(text: str, field: str = "reference") -> VersionRef:
    """'p/d:3' or 'p/d' (latest READY version): datasets have no aliases. ``VersionRef.model``
    holds the dataset's name."""
    if "@" in text:
        raise InvalidArgumentError(field, f"{_quoted(text)} names an alias; {_DATASET_REFERENCE_FORMS}")
    if len(text) > MAX_REFERENCE:
        raise InvalidArgumentError(field, f"is {len(text)} characters long; at most {MAX_REFERENCE} allowed")
    name, colon, number = text.partition(":")
    project, dataset = _split_name(field, name, text, _DATASET_REFERENCE_FORMS, "dataset")
    if not colon:
        return VersionRef(project, dataset)
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_VERSION:
        raise InvalidArgumentError(
            field, f"version {number!r} in {_quoted(text)} is not a positive integer of at most {MAX_VERSION}"
        )
    return VersionRef(project, dataset, version=int(number))


# Checks on what a change carries: models, versions, metrics, artifacts, audit queries.

MODEL_FIELDS = frozenset({"description", "owner", "team", "kind", "tags", "code_location", "data_location"})
VERSION_FIELDS = frozenset(
    {
        "description", "author", "framework", "payload_format", "signature", "hyperparameters",
        "dependencies", "produced_by", "code_location", "data_location", "tags",
    }
)  # fmt: skip
# "module:attribute" of a CUSTOM model's code: dotted identifiers on both sides.
_ENTRY_POINT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def check_location(field: str, location: SourceLocation) -> SourceLocation:
    for part in ("uri", "revision", "path"):
        check_text(f"{field}.{part}", getattr(location, part), MAX_LOCATION)
    return location


def check_model_changes(changes: Mapping[str, Any]) -> None:
    """The fields an UpdateModel names, each checked as CreateModel checks it."""
    if not changes:
        raise InvalidArgumentError("update_mask", f"names no field; use any of {', '.join(sorted(MODEL_FIELDS))}")
    for field, value in changes.items():
        if field not in MODEL_FIELDS:
            raise InvalidArgumentError(
                "update_mask", f"{field!r} cannot be updated; use any of {', '.join(sorted(MODEL_FIELDS))}"
            )
        if field == "tags":
            check_tags("model.tags", value)
        elif field in ("code_location", "data_location"):
            check_location(f"model.{field}", value)
        elif field != "kind":
            check_text(f"model.{field}", value, MAX_NAME if field != "description" else MAX_TEXT)


def check_tensors(field: str, tensors: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
    if len(tensors) > MAX_TENSORS:
        raise InvalidArgumentError(field, f"has {len(tensors)} tensors; at most {MAX_TENSORS} allowed")
    names = set()
    for i, tensor in enumerate(tensors):
        where = f"{field}[{i}]"
        if not tensor.name:
            raise InvalidArgumentError(f"{where}.name", "is required")
        check_text(f"{where}.name", tensor.name, MAX_NAME)
        if tensor.name in names:
            raise InvalidArgumentError(f"{where}.name", f"{tensor.name!r} appears twice")
        names.add(tensor.name)
        if tensor.datatype not in DATATYPES:
            raise InvalidArgumentError(
                f"{where}.datatype", f"{tensor.datatype!r} is not one of {', '.join(sorted(DATATYPES))}"
            )
        if len(tensor.shape) > MAX_DIMENSIONS or any(d < -1 or d == 0 for d in tensor.shape):
            raise InvalidArgumentError(
                f"{where}.shape",
                f"{list(tensor.shape)} is not a shape: up to {MAX_DIMENSIONS} dimensions, "
                "each a positive size or -1 for a variable one",
            )
    return tuple(tensors)


def check_dependencies(field: str, dependencies: Sequence[Dependency]) -> tuple[Dependency, ...]:
    if len(dependencies) > MAX_DEPENDENCIES:
        raise InvalidArgumentError(field, f"has {len(dependencies)} entries; at most {MAX_DEPENDENCIES} allowed")
    for i, dependency in enumerate(dependencies):
        if not dependency.library:
            raise InvalidArgumentError(f"{field}[{i}].library", "is required")
        check_text(f"{field}[{i}].library", dependency.library, MAX_NAME)
        check_text(f"{field}[{i}].version", dependency.version, MAX_NAME)
    return tuple(dependencies)


def check_produced_by(field: str, references: Sequence[str]) -> list[VersionRef]:
    if len(references) > MAX_PARENTS:
        raise InvalidArgumentError(field, f"has {len(references)} entries; at most {MAX_PARENTS} allowed")
    return [parse_reference(text, f"{field}[{i}]") for i, text in enumerate(references)]


def check_version_spec(spec: VersionSpec) -> list[VersionRef]:
    """Everything of ``spec`` but its serving (which depends on the model's kind); the references
    of its ``produced_by``."""
    for field in ("framework", "payload_format", "author"):
        check_text(field, getattr(spec, field), MAX_NAME)
    check_text("description", spec.description)
    check_tensors("signature.inputs", spec.inputs)
    check_tensors("signature.outputs", spec.outputs)
    check_json_object("hyperparameters", spec.hyperparameters or {})
    check_dependencies("dependencies", spec.dependencies)
    check_location("code_location", spec.code_location)
    check_location("data_location", spec.data_location)
    check_tags("tags", dict(spec.tags or {}))
    return check_produced_by("produced_by", spec.produced_by)


def check_version_changes(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[VersionRef]]:
    """The fields an UpdateModelVersion names, checked as CreateModelVersion checks them: the
    changes as VersionSpec fields (a signature as inputs and outputs), and the new parents."""
    if not changes:
        raise InvalidArgumentError("update_mask", f"names no field; use any of {', '.join(sorted(VERSION_FIELDS))}")
    unknown = sorted(set(changes) - VERSION_FIELDS)
    if unknown:
        raise InvalidArgumentError(
            "update_mask", f"{unknown[0]!r} cannot be updated; use any of {', '.join(sorted(VERSION_FIELDS))}"
        )
    spec_fields = {k: v for k, v in changes.items() if k != "signature"}
    if "signature" in changes:
        spec_fields["inputs"], spec_fields["outputs"] = changes["signature"]
    return spec_fields, check_version_spec(dataclasses.replace(VersionSpec(), **spec_fields))


def member_refs(serving: Serving) -> list[VersionRef]:
    """The member references ``serving`` names, whatever the model's kind (checked later)."""
    if len(serving.members) > MAX_MEMBERS:
        raise InvalidArgumentError(
            "serving.members", f"has {len(serving.members)} entries; an ENSEMBLE takes 1 to {MAX_MEMBERS}"
        )
    return [parse_reference(text, f"serving.members[{i}]") for i, text in enumerate(serving.members)]


def check_serving(model: Model, serving: Serving) -> list[VersionRef]:
    """The member references of an ENSEMBLE version; raises when ``serving`` does not fit the
    model's kind (CUSTOM needs an entry point, ENSEMBLE a method and members, STANDARD neither)."""
    check_text("serving.entry_point", serving.entry_point, MAX_NAME)
    if model.kind is ModelKind.CUSTOM:
        if serving.ensemble_method is not None or serving.members:
            raise InvalidArgumentError("serving", f"{model.name!r} is CUSTOM: it takes an entry_point, not members")
        if not _ENTRY_POINT.fullmatch(serving.entry_point):
            raise InvalidArgumentError(
                "serving.entry_point",
                f"{serving.entry_point!r} is not 'module:attribute' (e.g. 'predictor:Model'), "
                "which every version of a CUSTOM model needs",
            )
        return []
    if model.kind is ModelKind.ENSEMBLE:
        if serving.entry_point:
            raise InvalidArgumentError("serving.entry_point", f"{model.name!r} is ENSEMBLE: it takes members")
        if serving.ensemble_method is None:
            raise InvalidArgumentError("serving.ensemble_method", "is required for an ENSEMBLE: AVERAGE, VOTE or CHAIN")
        if not serving.members:
            raise InvalidArgumentError("serving.members", f"has 0 entries; an ENSEMBLE takes 1 to {MAX_MEMBERS}")
        return member_refs(serving)
    if serving != Serving():
        raise InvalidArgumentError("serving", f"{model.name!r} is {model.kind}; only CUSTOM and ENSEMBLE take it")
    return []


def check_metric_points(points: Sequence[MetricPoint]) -> None:
    if not points:
        raise InvalidArgumentError("metrics", "is empty; log at least one metric")
    if len(points) > MAX_METRICS_PER_CALL:
        raise InvalidArgumentError("metrics", f"has {len(points)} entries; at most {MAX_METRICS_PER_CALL} allowed")
    structured_bytes = 0
    for i, point in enumerate(points):
        check_key(f"metrics[{i}].name", point.name)
        if point.number is not None:
            check_number(f"metrics[{i}].number", point.number)
        elif point.structured is not None:
            structured_bytes += check_json_object(f"metrics[{i}].structured", point.structured)
        else:
            raise InvalidArgumentError(f"metrics[{i}]", "has no value: set number or structured")
        if point.step < 0:
            raise InvalidArgumentError(f"metrics[{i}].step", f"must not be negative, got {point.step}")
    if structured_bytes > MAX_METRICS_JSON_BYTES:
        raise InvalidArgumentError(
            "metrics",
            f"hold {structured_bytes} bytes of structured values as JSON; at most {MAX_METRICS_JSON_BYTES} a call",
        )


def check_structured_total(version: ModelVersion, points: Sequence[MetricPoint]) -> None:
    """A version's latest structured metrics are shown with it in every response, so they are
    bounded together. A point older than the latest of its name does not replace it, so the larger
    of the two counts; a call that does not grow the total (over the bound from before it) passes."""
    sizes = {p.name: _json_size(p.structured) for p in version.metrics}
    before = sum(sizes.values())
    for point in points:
        sizes[point.name] = max(sizes.get(point.name, 0), _json_size(point.structured))
    total = sum(sizes.values())
    if total > MAX_METRICS_JSON_BYTES and total > before:
        raise InvalidArgumentError(
            "metrics",
            f"would give {version.reference} {total} bytes of structured metrics as JSON; "
            f"at most {MAX_METRICS_JSON_BYTES} a version",
        )


def _json_size(value: dict[str, Any] | None) -> int:
    return 0 if value is None else len(json.dumps(value))


def check_artifact_files(files: Sequence[Mapping[str, Any]]) -> None:
    """The files of an artifact the registry commits: at least one, paths unique, digests SHA-256."""
    if not files:
        raise InvalidArgumentError("artifact.files", "is empty; a READY version has at least one file")
    if len(files) > MAX_FILES:
        raise InvalidArgumentError("artifact.files", f"has {len(files)} entries; at most {MAX_FILES} allowed")
    paths = set()
    for i, entry in enumerate(files):
        if not entry.get("path") or entry["path"] in paths:
            raise InvalidArgumentError(f"artifact.files[{i}].path", "is empty or repeated")
        paths.add(entry["path"])
        for part in ("path", "storage_key", "content_type"):
            check_text(f"artifact.files[{i}].{part}", entry.get(part, ""), MAX_LOCATION)
        digest = entry.get("sha256", "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidArgumentError(f"artifact.files[{i}].sha256", "must be 64 lowercase hex digits")
        if entry.get("size", -1) < 0:
            raise InvalidArgumentError(f"artifact.files[{i}].size", "must not be negative")


def check_audit_filter(project: str, resource: str, actor: str) -> None:
    """What an audit listing or watch selects by (who may read it is the access check's)."""
    if project:
        check_name("project", project)
    check_text("resource", resource, MAX_REFERENCE)
    check_text("actor", actor, MAX_NAME)
