"""Compiles a parsed version search into parameterized Postgres SQL, with keyset paging.

Every value, including tag/metric/parameter key names, travels as an asyncpg ``$n`` parameter;
nothing the caller typed is spliced into the SQL text. Usage, in the versions repository::

    search = compile_search(
        parse_filter(request.filter),
        parse_order_by(request.order_by),
        project=request.project or None,
        page_token=request.page_token,
        page_size=request.page_size,
    )
    rows = await conn.fetch(search.query(), *search.args)
    rows, next_page_token = search.page(rows)  # next_page_token is "" on the last page

``search.query(columns="v.*")`` is
``SELECT {columns}, {sort_columns_sql} FROM model_versions v WHERE {where_sql} ORDER BY {order_sql}
LIMIT {limit}``. A caller building its own statement uses those parts directly; it must select
``sort_columns_sql`` (columns ``sort_0 .. sort_N``, the last being ``v.id``) for ``page`` and
``make_page_token`` to read, and pass its own parameters first with ``first_param`` set after them.

Ordering: the requested keys, then ``v.id`` in the direction of the last key, so the order is total
and the default ``created DESC`` walks the ``(created_at DESC, id DESC)`` index. Missing
tags/metrics/params sort last in both directions. An order by one metric alone walks the
``version_metrics`` index instead (no index can serve the JSON expression): the versions that have
the metric in its order, then, if the page is not full yet, those without it by id; ``query``
then builds that statement, with the same sort columns and the same order.

Page token: URL-safe base64 of ``[fingerprint, [sort values of the last row..., id]]``. The
fingerprint hashes the parsed filter, order and project, so a token replayed with another query is
refused instead of silently skipping or repeating rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.search import (
    And,
    Comparison,
    Expr,
    Field,
    FieldType,
    InList,
    Like,
    Not,
    Op,
    Or,
    OrderKey,
    Value,
)
from modelyard_metadata.storage.rows import Row

__all__ = ["CompiledSearch", "compile_search", "make_page_token"]

_MAX_TOKEN_LENGTH = 4096

_COLUMNS = {
    "project": "v.project",
    "model": "v.model",
    "version": "v.version",
    "stage": "v.stage",
    "status": "v.status",
    "framework": "v.framework",
    "payload_format": "v.payload_format",
    "author": "v.author",
    "created": "v.created_at",
    "updated": "v.updated_at",
}
_CASTS = {
    FieldType.TEXT: "text",
    FieldType.ENUM: "text",
    FieldType.ALIAS: "text",
    FieldType.INTEGER: "bigint",
    FieldType.TIME: "timestamptz",
    FieldType.NUMBER: "float8",
}
_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


R = TypeVar("R", bound=Row)


@dataclass(frozen=True, slots=True)
class _SortKey:
    sql: str  # as compared in ORDER BY and in the keyset condition
    type: FieldType
    nullable: bool
    descending: bool


@dataclass(frozen=True, slots=True)
class _MetricWalk:
    """An order by one metric, read from version_metrics: ``name`` is the metric's placeholder;
    ``ranked_after`` and ``unranked_after`` the page token's condition on the versions that have
    the metric (``m``) and on those that do not."""

    name: str
    descending: bool
    ranked_after: str
    unranked_after: str


@dataclass(frozen=True, slots=True)
class CompiledSearch:
    """One page of a search, as SQL parts and their arguments (see the module docstring)."""

    where_sql: str
    order_sql: str
    sort_columns_sql: str
    args: tuple[object, ...]
    page_size: int
    _keys: tuple[_SortKey, ...] = field(repr=False)
    _fingerprint: str = field(repr=False)
    _walk: _MetricWalk | None = field(default=None, repr=False)

    @property
    def limit(self) -> int:
        """One row more than a page, to learn whether another page follows."""
        return self.page_size + 1

    def query(self, columns: str = "v.*") -> str:
        walk = self._walk
        if walk is None:
            return (
                f"SELECT {columns}, {self.sort_columns_sql} FROM model_versions v "
                f"WHERE {self.where_sql} ORDER BY {self.order_sql} LIMIT {self.limit}"
            )
        way = "DESC" if walk.descending else "ASC"
        # The versions without the metric are read only for what the ranked ones leave of the
        # page (LIMIT 0 reads nothing); the final ORDER BY sorts at most two pages.
        return (
            f"WITH ranked AS MATERIALIZED (SELECT {columns}, m.number AS sort_0, v.id AS sort_1 "
            f"FROM version_metrics m JOIN model_versions v ON v.id = m.version_id "
            f"WHERE m.name = {walk.name} AND {self.where_sql} AND {walk.ranked_after} "
            f"ORDER BY m.number {way}, m.version_id {way} LIMIT {self.limit}) "
            f"SELECT * FROM ranked UNION ALL (SELECT {columns}, NULL::float8, v.id FROM model_versions v "
            f"WHERE NOT EXISTS (SELECT 1 FROM version_metrics m WHERE m.version_id = v.id AND m.name = {walk.name}) "
            f"AND {self.where_sql} AND {walk.unranked_after} "
            f"ORDER BY v.id {way} LIMIT {self.limit} - (SELECT count(*) FROM ranked)) "
            f"ORDER BY sort_0 {way} NULLS LAST, sort_1 {way}"
        )

    def page(self, rows: Sequence[R]) -> tuple[list[R], str]:
        """Splits fetched rows into this page and the token of the next one ("" if none)."""
        if len(rows) <= self.page_size:
            return list(rows), ""
        return list(rows[: self.page_size]), make_page_token(self, rows[self.page_size - 1])


def compile_search(
    expr: Expr | None,
    order: tuple[OrderKey, ...],
    *,
    project: str | None,
    page_token: str,
    page_size: int,
    visible: frozenset[str] | None = None,
    first_param: int = 1,
) -> CompiledSearch:
    """Builds the WHERE, ORDER BY and sort columns for one page.

    Args:
        expr: from ``parse_filter``; None matches every version.
        order: from ``parse_order_by`` (never empty).
        project: restricts the search to one project when set.
        visible: restricts it to these projects (those the caller may read) when not None.
        page_token: "" for the first page, else a token from a previous page of the same query.
        page_size: rows per page, already checked by the caller (domain.paging.page_size).
        first_param: number of the first ``$n`` placeholder used.

    Raises:
        InvalidArgumentError: page_token is malformed or belongs to another query.
    """
    params = _Params(first_param)
    where: list[str] = []
    if project:
        where.append(f"v.project = {params.add(project, 'text')}")
    if visible is not None:
        where.append(f"v.project = ANY({params.add(sorted(visible), 'text[]')})")
    if expr is not None:
        where.append(_predicate(expr, params))
    # An order by one metric alone walks version_metrics, by the metric's name (see query).
    walked = order[0].field.key if len(order) == 1 and order[0].field.name == "metrics" else None
    name = params.add(walked, "text") if walked is not None else ""
    keys = (
        *(_SortKey(_value_sql(k.field, params, name), k.field.type, k.field.nullable, k.descending) for k in order),
        _SortKey("v.id", FieldType.INTEGER, False, order[-1].descending),
    )
    fingerprint = hashlib.sha256(repr((expr, order, project or None)).encode()).hexdigest()[:16]
    cursor = _read_token(page_token, fingerprint, keys) if page_token else None
    walk = _metric_walk(name, keys, cursor, params) if name else None
    if walk is None and cursor is not None:
        where.append(_after(keys, cursor, params))
    return CompiledSearch(
        where_sql=" AND ".join(where) or "TRUE",
        order_sql=", ".join(_order_term(k) for k in keys),
        # JSON is selected as text so that the token round-trips whatever codec the pool has.
        sort_columns_sql=", ".join(
            f"{k.sql}{'::text' if k.type is FieldType.JSON else ''} AS sort_{i}" for i, k in enumerate(keys)
        ),
        args=tuple(params.values),
        page_size=page_size,
        _keys=keys,
        _fingerprint=fingerprint,
        _walk=walk,
    )


def make_page_token(search: CompiledSearch, row: Row) -> str:
    """The token of the page that follows ``row``, which must carry the ``sort_i`` columns."""
    values = [_encode(row[f"sort_{i}"]) for i in range(len(search._keys))]
    data = json.dumps([search._fingerprint, values], separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


# --- WHERE ---------------------------------------------------------------------------------


class _Params:
    def __init__(self, first: int) -> None:
        self.first = first
        self.values: list[object] = []

    def add(self, value: object, cast: str) -> str:
        """A placeholder with an explicit cast, so Postgres never has to guess a parameter type."""
        self.values.append(value)
        return f"${self.first + len(self.values) - 1}::{cast}"


def _value_sql(field: Field, params: _Params, key: str = "") -> str:
    """The SQL expression of a field's value; NULL when a version lacks the tag/metric/param.
    ``key``: the placeholder of its key, when one was added already."""
    if field.key is None:
        return _COLUMNS[field.name]
    key = key or params.add(field.key, "text")
    if field.name == "tags":
        return f"(v.tags ->> {key})"
    if field.name == "metrics":
        return f"((v.metrics -> {key} ->> 'number')::float8)"
    return f"(v.params -> {key})"


def _json(value: object, params: _Params) -> str:
    return params.add(json.dumps(value), "text") + "::jsonb"


def _json_type(value: Value) -> str:
    return "boolean" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"


def _predicate(expr: Expr, params: _Params) -> str:
    """SQL that is TRUE or FALSE, never NULL: a predicate on a missing key is false, so NOT inverts it."""
    if isinstance(expr, And | Or):
        joiner = " AND " if isinstance(expr, And) else " OR "
        return "(" + joiner.join(_predicate(item, params) for item in expr.items) + ")"
    if isinstance(expr, Not):
        return f"(NOT {_predicate(expr.item, params)})"
    if expr.field.name == "alias":
        return _alias(expr, params)
    if expr.field.name == "digest":
        return _digest(expr, params)
    if isinstance(expr, Comparison) and expr.op is Op.EQ and expr.field.name in ("tags", "params"):
        # Containment can use the GIN (jsonb_path_ops) indexes.
        return f"(v.{expr.field.name} @> {_json({expr.field.key: expr.value}, params)})"
    sql = _leaf(expr, _value_sql(expr.field, params), params)
    return f"(({sql}) IS TRUE)" if expr.field.nullable else f"({sql})"


def _leaf(expr: Comparison | InList | Like, column: str, params: _Params) -> str:
    kind = expr.field.type
    if isinstance(expr, Like):
        like = f"{'NOT LIKE' if expr.negated else 'LIKE'} {params.add(expr.pattern, 'text')}"
        if kind is FieldType.JSON:  # only string parameters match patterns; #>> '{}' unquotes them
            return f"jsonb_typeof({column}) = 'string' AND ({column} #>> '{{}}') {like}"
        return f"{column} {like}"
    if isinstance(expr, InList):
        if kind is FieldType.JSON:
            array = params.add([json.dumps(v) for v in expr.values], "text[]") + "::jsonb[]"
        else:
            array = params.add(list(expr.values), _CASTS[kind] + "[]")
        return f"{column} <> ALL({array})" if expr.negated else f"{column} = ANY({array})"
    if kind is FieldType.JSON:
        # jsonb compares numbers numerically, strings as text and bools as bools, but ranks types
        # against each other; the type check keeps `params.depth > 4` from matching strings.
        return (
            f"jsonb_typeof({column}) = '{_json_type(expr.value)}' "
            f"AND {column} {_SQL_OPS[expr.op]} {_json(expr.value, params)}"
        )
    return f"{column} {_SQL_OPS[expr.op]} {params.add(expr.value, _CASTS[kind])}"


def _alias(expr: Expr, params: _Params) -> str:
    """``alias`` asks whether any alias of the version matches; the negated forms ask for none."""
    if isinstance(expr, Comparison):
        condition, negated = f"a.alias = {params.add(expr.value, 'text')}", expr.op is Op.NE
    elif isinstance(expr, InList):
        condition, negated = f"a.alias = ANY({params.add(list(expr.values), 'text[]')})", expr.negated
    else:
        assert isinstance(expr, Like)
        condition, negated = f"a.alias LIKE {params.add(expr.pattern, 'text')}", expr.negated
    exists = f"EXISTS (SELECT 1 FROM aliases a WHERE a.version_id = v.id AND {condition})"
    return f"(NOT {exists})" if negated else f"({exists})"


def _digest(expr: Expr, params: _Params) -> str:
    """``digest`` asks whether any file of the version's artifact has that SHA-256; the negated
    forms ask for none. A version without an artifact (not READY) has no file, so none matches."""
    if isinstance(expr, Comparison):
        # Containment: {"files": [{"sha256": ...}]} is in the artifact when any file has it.
        found = f"(v.artifact @> {_json({'files': [{'sha256': expr.value}]}, params)})"
        return f"(NOT {found})" if expr.op is Op.NE else found
    assert isinstance(expr, InList)
    files = (
        "jsonb_array_elements(CASE WHEN jsonb_typeof(v.artifact -> 'files') = 'array' THEN v.artifact -> 'files' END)"
    )
    condition = f"f ->> 'sha256' = ANY({params.add(list(expr.values), 'text[]')})"
    exists = f"EXISTS (SELECT 1 FROM {files} f WHERE {condition})"
    return f"(NOT {exists})" if expr.negated else f"({exists})"


# --- paging --------------------------------------------------------------------------------


def _order_term(key: _SortKey) -> str:
    """NULLS LAST only where NULLs can occur: on NOT NULL columns it would stop Postgres from
    reading a DESC index (whose order is NULLS FIRST) in order."""
    return f"{key.sql} {'DESC' if key.descending else 'ASC'}{' NULLS LAST' if key.nullable else ''}"


def _after(keys: tuple[_SortKey, ...], cursor: list[object], params: _Params) -> str:
    """Rows strictly after the cursor in ORDER BY order, where NULL sorts last in both directions."""
    if not any(k.nullable for k in keys) and len({k.descending for k in keys}) == 1:
        # Plain row comparison: the form Postgres matches against a multicolumn index.
        placeholders = ", ".join(params.add(v, _cast(k)) for k, v in zip(keys, cursor, strict=True))
        return f"(({', '.join(k.sql for k in keys)}) {'<' if keys[0].descending else '>'} ({placeholders}))"
    condition = ""
    for key, value in reversed(list(zip(keys, cursor, strict=True))):
        if value is None:  # among NULLs only the later keys can advance
            condition = f"({key.sql} IS NULL AND {condition})"
            continue
        placeholder = params.add(value, _cast(key))
        after = f"{key.sql} {'<' if key.descending else '>'} {placeholder}"
        if key.nullable:
            after = f"{after} OR {key.sql} IS NULL"
        condition = f"({after} OR ({key.sql} = {placeholder} AND {condition}))" if condition else f"({after})"
    return condition


def _metric_walk(name: str, keys: tuple[_SortKey, ...], cursor: list[object] | None, params: _Params) -> _MetricWalk:
    """The walk of an order by one metric alone (keys: the metric, then v.id; ``name``: the
    placeholder of its name), after ``cursor``."""
    metric, _ = keys
    ranked_after = unranked_after = "TRUE"
    if cursor is not None:
        number, last_id = cursor
        later = "<" if metric.descending else ">"
        if number is None:  # past every version that has the metric
            ranked_after = "FALSE"
            unranked_after = f"v.id {later} {params.add(last_id, 'bigint')}"
        else:
            after = f"{params.add(number, 'float8')}, {params.add(last_id, 'bigint')}"
            ranked_after = f"(m.number, m.version_id) {later} ({after})"
    return _MetricWalk(name, metric.descending, ranked_after, unranked_after)


def _cast(key: _SortKey) -> str:
    return "text::jsonb" if key.type is FieldType.JSON else _CASTS[key.type]


def _encode(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _bad_token() -> InvalidArgumentError:
    return InvalidArgumentError("page_token", "is malformed; pass the next_page_token of a previous page unchanged")


def _read_token(token: str, fingerprint: str, keys: tuple[_SortKey, ...]) -> list[object]:
    if len(token) > _MAX_TOKEN_LENGTH:
        raise _bad_token()
    try:
        data = json.loads(base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise _bad_token() from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str) and isinstance(data[1], list)):
        raise _bad_token()
    if data[0] != fingerprint:
        raise InvalidArgumentError(
            "page_token", "belongs to a search with another filter, order_by or project; start again without it"
        )
    if len(data[1]) != len(keys):
        raise _bad_token()
    return [_decode(value, key) for value, key in zip(data[1], keys, strict=True)]


def _decode(value: object, key: _SortKey) -> object:
    """Checks a cursor value against its key's type, so a forged token fails here, not in Postgres."""
    if value is None:
        if key.nullable:
            return None
    elif isinstance(value, str) and "\x00" not in value:
        if key.type in (FieldType.TEXT, FieldType.ENUM):
            return value
        if key.type is FieldType.JSON and _is_jsonb(value):
            return value
        if key.type is FieldType.TIME and (moment := _fromisoformat(value)) and moment.tzinfo is not None:
            return moment
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int) and key.type is FieldType.INTEGER and abs(value) < 2**63:
        return value
    elif isinstance(value, int | float) and key.type is FieldType.NUMBER and math.isfinite(value):
        return float(value)
    raise _bad_token()


def _is_jsonb(text: str) -> bool:
    """Whether Postgres jsonb can hold the text: valid JSON, no NUL character, no infinite number."""
    try:
        return _jsonb_safe(json.loads(text))
    except ValueError:
        return False


def _jsonb_safe(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_jsonb_safe, value))
    if isinstance(value, dict):
        return all(_jsonb_safe(k) and _jsonb_safe(v) for k, v in value.items())
    return True


def _fromisoformat(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
