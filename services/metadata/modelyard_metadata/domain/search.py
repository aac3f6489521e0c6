"""The version search language: a filter expression and an order_by list, parsed into a typed AST.

Grammar (docs/search.md is the user-facing reference)::

    expr      := or
    or        := and ("OR" and)*
    and       := unary ("AND" unary)*
    unary     := "NOT" unary | "(" expr ")" | predicate
    predicate := field op value
               | field ["NOT"] "IN" "(" value ("," value)* ")"
               | field ["NOT"] "LIKE" string
    op        := "=" | "!=" | "<" | "<=" | ">" | ">="

Everything that can be checked without the database is checked here (field names, value types,
allowed operators, sizes), so storage only translates a well-formed tree. Errors name the 1-based
character position and what was expected there, because a filter is typed by a person. The
tokens both are read from are ``search_tokens``'.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from modelyard_common.errors import InvalidArgumentError

from .entities import Stage, VersionStatus
from .limits import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_ORDER_BY_LENGTH,
    MAX_ORDER_KEYS,
    MAX_PREDICATES,
)
from .search_tokens import BARE_KEY, Kind, Token, describe, is_keyword, lex

__all__ = [
    "DEFAULT_ORDER",
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "MAX_ORDER_KEYS",
    "MAX_PREDICATES",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "FieldType",
    "InList",
    "Like",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "Value",
    "parse_filter",
    "parse_order_by",
]


class FieldType(enum.Enum):
    TEXT = "text"  # string columns and tags.KEY
    ENUM = "enum"  # stage, status: one of a fixed set of upper-case names
    INTEGER = "integer"  # version
    TIME = "time"  # created, updated
    NUMBER = "number"  # metrics.KEY: the latest numeric value
    JSON = "json"  # params.KEY: a number, string or bool
    ALIAS = "alias"  # alias: any alias currently pointing at the version
    DIGEST = "digest"  # digest: the SHA-256 of any file of the version's artifact


_SCALARS: dict[str, FieldType] = {
    "project": FieldType.TEXT,
    "model": FieldType.TEXT,
    "version": FieldType.INTEGER,
    "stage": FieldType.ENUM,
    "status": FieldType.ENUM,
    "framework": FieldType.TEXT,
    "payload_format": FieldType.TEXT,
    "author": FieldType.TEXT,
    "alias": FieldType.ALIAS,
    "digest": FieldType.DIGEST,
    "created": FieldType.TIME,
    "updated": FieldType.TIME,
}
_MAPS: dict[str, FieldType] = {"tags": FieldType.TEXT, "metrics": FieldType.NUMBER, "params": FieldType.JSON}
_SYNONYMS = {"name": "model"}
_ENUMS: dict[str, tuple[str, ...]] = {
    "stage": tuple(s.value for s in Stage),
    "status": tuple(s.value for s in VersionStatus),
}
_UNORDERABLE = frozenset({"alias", "digest"})  # a version has any number of aliases and files
_FIELDS_HELP = (
    "project, model (or name), version, stage, status, framework, payload_format, author, alias, "
    "digest, created, updated, tags.KEY, metrics.KEY, params.KEY"
)
_ORDER_HELP = (
    "project, model (or name), version, stage, status, framework, payload_format, author, "
    "created, updated, tags.KEY, metrics.KEY, params.KEY"
)
_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")


@dataclass(frozen=True, slots=True)
class Field:
    """A searchable field: ``name`` is canonical ("model" for "name"); ``key`` is set for tags/metrics/params."""

    name: str
    key: str | None = None

    @property
    def type(self) -> FieldType:
        return _SCALARS[self.name] if self.key is None else _MAPS[self.name]

    @property
    def nullable(self) -> bool:
        """A version may lack a tag, metric or parameter; every other field always has a value."""
        return self.key is not None

    def __str__(self) -> str:
        if self.key is None:
            return self.name
        return f"{self.name}.{self.key if BARE_KEY.fullmatch(self.key) else f'`{self.key}`'}"


class Op(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


# Values after validation: stage/status upper-cased, created/updated as aware datetimes,
# metrics as floats, version as int; params keep their JSON type.
Value = str | int | float | bool | datetime


@dataclass(frozen=True, slots=True)
class Comparison:
    field: Field
    op: Op
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """SQL LIKE: ``%`` any run, ``_`` any one character, backslash escapes them."""

    field: Field
    pattern: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr = Comparison | InList | Like | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    field: Field
    descending: bool = False


DEFAULT_ORDER = (OrderKey(Field("created"), descending=True),)


def parse_filter(text: str) -> Expr | None:
    """Parses a filter expression; an empty (or all-blank) filter matches everything and gives None.

    Raises:
        InvalidArgumentError: field "filter", with the position and what was expected there.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidArgumentError("filter", f"is {len(text)} characters long; at most {MAX_FILTER_LENGTH} allowed")
    parser = _Parser(text, "filter")
    if parser.peek().kind is Kind.END:
        return None
    expr = parser.parse_or(0)
    end = parser.peek()
    if end.kind is not Kind.END:
        parser.fail(end, f"expected AND, OR or the end of the filter, found {describe(end)}")
    return expr


def parse_order_by(text: str) -> tuple[OrderKey, ...]:
    """Parses ``key [ASC|DESC], ...``; an empty text gives ``created DESC``.

    Raises:
        InvalidArgumentError: field "order_by", with the position and what was expected there.
    """
    if len(text) > MAX_ORDER_BY_LENGTH:
        raise InvalidArgumentError("order_by", f"is {len(text)} characters long; at most {MAX_ORDER_BY_LENGTH} allowed")
    parser = _Parser(text, "order_by")
    if parser.peek().kind is Kind.END:
        return DEFAULT_ORDER
    keys: list[OrderKey] = []
    while True:
        tok = parser.advance()
        if tok.kind is not Kind.WORD or is_keyword(tok):
            parser.fail(tok, f"expected a field to order by, found {describe(tok, 'order_by')}")
        field = parser.field(tok, _ORDER_HELP)
        if field.name in _UNORDERABLE:
            parser.fail(tok, f"cannot order by '{tok.text}'; order by one of {_ORDER_HELP}")
        if any(key.field == field for key in keys):
            parser.fail(tok, f"'{tok.text}' appears twice")
        if len(keys) == MAX_ORDER_KEYS:
            parser.fail(tok, f"too many keys: at most {MAX_ORDER_KEYS} allowed")
        nxt = parser.advance()
        descending = False
        if is_keyword(nxt, "ASC", "DESC"):
            descending = nxt.text.upper() == "DESC"
            nxt = parser.advance()
        keys.append(OrderKey(field, descending))
        if nxt.kind is Kind.END:
            return tuple(keys)
        if nxt.kind is not Kind.COMMA:
            parser.fail(nxt, f"expected ASC, DESC, ',' or the end of order_by, found {describe(nxt, 'order_by')}")


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.what = what
        self.tokens = lex(text, what)
        self.i = 0
        self.predicates = 0

    def fail(self, tok: Token, message: str) -> NoReturn:
        raise InvalidArgumentError(self.what, f"at position {tok.pos}: {message}")

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.END:
            self.i += 1
        return tok

    def parse_or(self, depth: int) -> Expr:
        items = [self.parse_and(depth)]
        while is_keyword(self.peek(), "OR"):
            self.advance()
            items.append(self.parse_and(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self, depth: int) -> Expr:
        items = [self.parse_unary(depth)]
        while is_keyword(self.peek(), "AND"):
            self.advance()
            items.append(self.parse_unary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self, depth: int) -> Expr:
        tok = self.peek()
        if is_keyword(tok, "NOT") or tok.kind is Kind.LPAREN:
            if depth == MAX_DEPTH:
                self.fail(tok, f"nesting is deeper than {MAX_DEPTH} levels")
            self.advance()
            if tok.kind is Kind.WORD:
                return Not(self.parse_unary(depth + 1))
            expr = self.parse_or(depth + 1)
            close = self.advance()
            if close.kind is not Kind.RPAREN:
                self.fail(
                    close, f"expected AND, OR or ')' to close the '(' at position {tok.pos}, found {describe(close)}"
                )
            return expr
        return self.parse_predicate()

    def parse_predicate(self) -> Expr:
        name = self.advance()
        if name.kind is not Kind.WORD or is_keyword(name):
            index = self.i if name.kind is Kind.END else self.i - 1
            after = f" after '{self.tokens[index - 1].text}'" if index > 0 else ""
            self.fail(name, f"expected a field, NOT or '('{after}, found {describe(name)}")
        field = self.field(name, _FIELDS_HELP)
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            self.fail(name, f"too many predicates: at most {MAX_PREDICATES} allowed")
        op = self.advance()
        negated = is_keyword(op, "NOT")
        if negated:
            op = self.advance()
            if not is_keyword(op, "IN", "LIKE"):
                self.fail(op, f"expected IN or LIKE after 'NOT', found {describe(op)}")
        if is_keyword(op, "IN"):
            return self.in_list(field, name, op, negated)
        if is_keyword(op, "LIKE"):
            if field.type not in (FieldType.TEXT, FieldType.JSON, FieldType.ALIAS):
                self.fail(
                    op,
                    f"LIKE works only on text fields (project, model, framework, payload_format, "
                    f"author, alias, tags.KEY, params.KEY), not on {name.text}",
                )
            pattern = self.advance()
            if pattern.kind is not Kind.STRING:
                self.fail(pattern, f"expected a quoted pattern after '{op.text}', found {describe(pattern)}")
            text = str(pattern.value)
            if (len(text) - len(text.rstrip("\\"))) % 2:  # Postgres refuses a dangling LIKE escape
                self.fail(
                    pattern,
                    "a LIKE pattern cannot end with an unpaired backslash (write \\\\\\\\ in quotes "
                    "to match one backslash)",
                )
            return Like(field, text, negated)
        if op.kind is not Kind.OP:
            self.fail(
                op,
                f"expected an operator (=, !=, <, <=, >, >=, IN, NOT IN, LIKE, NOT LIKE) "
                f"after '{name.text}', found {describe(op)}",
            )
        if field.type in (FieldType.ENUM, FieldType.ALIAS, FieldType.DIGEST) and op.value not in (Op.EQ, Op.NE):
            allowed = "=, !=, IN and LIKE" if field.type is FieldType.ALIAS else "=, != and IN"
            self.fail(op, f"{name.text} supports only {allowed}, found {describe(op)}")
        value = self.advance()
        return Comparison(field, Op(op.value), self.value(field, name, value, op))  # type: ignore[arg-type]

    def in_list(self, field: Field, name: Token, op: Token, negated: bool) -> Expr:
        opening = self.advance()
        if opening.kind is not Kind.LPAREN:
            self.fail(opening, f"expected '(' after '{op.text}', found {describe(opening)}")
        values: list[Value] = []
        after = opening
        while True:
            tok = self.advance()
            if len(values) == MAX_IN_VALUES:
                self.fail(tok, f"too many values in the IN list: at most {MAX_IN_VALUES} allowed")
            values.append(self.value(field, name, tok, after))
            after = self.advance()
            if after.kind is Kind.RPAREN:
                return InList(field, tuple(values), negated)
            if after.kind is not Kind.COMMA:
                self.fail(after, f"expected ',' or ')' in the IN list, found {describe(after)}")

    def field(self, tok: Token, valid: str) -> Field:
        word, key = str(tok.value).lower(), tok.key
        if key is None and word in _MAPS:
            self.fail(tok, f"'{tok.text}' needs a key, as in {word}.KEY")
        if key is None:
            word = _SYNONYMS.get(word, word)
            if word in _SCALARS:
                return Field(word)
        elif word in _MAPS:
            return Field(word, key)
        self.fail(tok, f"unknown field '{tok.text}'; valid fields are {valid}")

    def value(self, field: Field, name: Token, tok: Token, after: Token) -> Value:
        """Reads one literal and checks it fits ``field``, returning it in the field's own type."""
        raw: Value
        if tok.kind in (Kind.STRING, Kind.NUMBER):
            raw = tok.value  # type: ignore[assignment]
        elif is_keyword(tok, "TRUE", "FALSE"):
            raw = tok.text.upper() == "TRUE"
        else:
            hint = " (quote text values)" if tok.kind is Kind.WORD and not is_keyword(tok) else ""
            self.fail(tok, f"expected a value after '{after.text}'{hint}, found {describe(tok)}")
        kind = field.type
        if kind is FieldType.JSON:
            return raw
        if kind in (FieldType.TEXT, FieldType.ALIAS) and isinstance(raw, str):
            return raw
        if kind is FieldType.DIGEST and isinstance(raw, str) and _SHA256.fullmatch(raw):
            return raw.lower()
        if kind is FieldType.ENUM and isinstance(raw, str) and raw.upper() in _ENUMS[field.name]:
            return raw.upper()
        if kind is FieldType.INTEGER and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if kind is FieldType.NUMBER and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if kind is FieldType.TIME and isinstance(raw, str) and (moment := _parse_time(raw)) is not None:
            return moment
        expected = {
            FieldType.TEXT: "compares with a quoted string",
            FieldType.ALIAS: "compares with a quoted alias name",
            FieldType.DIGEST: "compares with a quoted SHA-256 of 64 hex digits",
            FieldType.ENUM: "must be one of " + ", ".join(_ENUMS.get(field.name, ())),
            FieldType.INTEGER: "compares with a whole number",
            FieldType.NUMBER: "compares with a number",
            FieldType.TIME: 'compares with a timestamp such as "2026-01-31" or "2026-01-31T12:00:00Z"',
        }[kind]
        self.fail(tok, f"{name.text} {expected}, found {describe(tok)}")


def _parse_time(text: str) -> datetime | None:
    """RFC 3339 / ISO 8601; a missing offset means UTC, a bare date means its midnight UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
