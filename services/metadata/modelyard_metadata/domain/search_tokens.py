"""The tokens of the version search language (filters and order_by): words (a field, a keyword,
true or false; with its key for tags.KEY and the like), strings, numbers, operators and
punctuation, each with its 1-based position for error messages."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from modelyard_common.errors import InvalidArgumentError

__all__ = ["BARE_KEY", "Kind", "Token", "describe", "is_keyword", "lex"]

BARE_KEY = re.compile(r"[A-Za-z0-9_./-]+")


class Kind(enum.Enum):
    WORD = "word"  # field, keyword, true or false; `key` is set for tags.KEY and the like
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # as written, for messages
    pos: int  # 1-based
    value: object = None  # decoded string or number; the word before any key
    key: str | None = None


_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "TRUE", "FALSE", "ASC", "DESC"})
_INT64 = 2**63


def lex(text: str, what: str) -> list[Token]:
    def fail(index: int, message: str) -> InvalidArgumentError:
        return InvalidArgumentError(what, f"at position {index + 1}: {message}")

    if (nul := text.find("\x00")) >= 0:  # Postgres text cannot hold it
        raise fail(nul, "unexpected character '\\x00'")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c, start = text[i], i
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            chars: list[str] = []
            i += 1
            while True:
                if i >= n or (text[i] == "\\" and i + 1 == n):
                    raise fail(start, "unterminated string")
                if text[i] == c:
                    break
                if text[i] == "\\":
                    escaped = text[i + 1 : i + 2]
                    if escaped not in _ESCAPES:
                        raise fail(i, f"unknown escape '\\{escaped}' in string; use \\\\, \\\", \\', \\n, \\t or \\r")
                    chars.append(_ESCAPES[escaped])
                    i += 2
                else:
                    chars.append(text[i])
                    i += 1
            i += 1
            tokens.append(Token(Kind.STRING, text[start:i], start + 1, "".join(chars)))
        elif m := _NUMBER.match(text, i):
            i = m.end()
            number: int | float = int(m[0]) if m[0].lstrip("-").isdigit() else float(m[0])
            if abs(number) >= _INT64 if isinstance(number, int) else not math.isfinite(number):
                raise fail(start, f"number {m[0]} is out of range")
            tokens.append(Token(Kind.NUMBER, m[0], start + 1, number))
        elif m := _WORD.match(text, i):
            i = m.end()
            key = None
            if text[i : i + 1] == ".":
                i += 1
                key_start = i
                if text[i : i + 1] == "`":
                    close = text.find("`", i + 1)
                    if close < 0:
                        raise fail(i, "unterminated `quoted key`")
                    key, i = text[i + 1 : close], close + 1
                elif km := BARE_KEY.match(text, i):
                    key, i = km[0], km.end()
                if not key:
                    raise fail(key_start, f"expected a key after '{m[0]}.'")
            tokens.append(Token(Kind.WORD, text[start:i], start + 1, m[0], key))
        elif text.startswith(("!=", "<=", ">="), i) or c in "=<>":
            i += 2 if text[i + 1 : i + 2] == "=" and c != "=" else 1
            tokens.append(Token(Kind.OP, text[start:i], start + 1, text[start:i]))
        elif c in "(),":
            i += 1
            kind = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}[c]
            tokens.append(Token(kind, c, start + 1))
        elif c == "!":
            raise fail(i, "expected '=' after '!'")
        else:
            raise fail(i, f"unexpected character {c!r}")
    tokens.append(Token(Kind.END, "", n + 1))
    return tokens


def is_keyword(tok: Token, *words: str) -> bool:
    if tok.kind is not Kind.WORD or tok.key is not None:
        return False
    word = tok.text.upper()
    return word in words if words else word in _KEYWORDS


def describe(tok: Token, what: str = "filter") -> str:
    if tok.kind is Kind.END:
        return "the end of the filter" if what == "filter" else f"the end of {what}"
    text = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
    return text if tok.kind is Kind.STRING else f"'{text}'"
