"""The version search language: parsing filters and order_by, and every error a person can hit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.search import (
    DEFAULT_ORDER,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_ORDER_KEYS,
    MAX_PREDICATES,
    And,
    Comparison,
    Field,
    FieldType,
    InList,
    Like,
    Not,
    Op,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)

STAGE, STATUS, VERSION, PROJECT = Field("stage"), Field("status"), Field("version"), Field("project")


def eq(field: Field, value: object) -> Comparison:
    return Comparison(field, Op.EQ, value)  # type: ignore[arg-type]


def error(text: str) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_filter(text)
    assert caught.value.field == "filter"
    return str(caught.value)


def order_error(text: str) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_order_by(text)
    assert caught.value.field == "order_by"
    return str(caught.value)


# --- structure -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_filter_matches_everything(text: str) -> None:
    assert parse_filter(text) is None


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("version = 1 OR version = 2 AND version = 3") == Or(
        (eq(VERSION, 1), And((eq(VERSION, 2), eq(VERSION, 3))))
    )
    assert parse_filter("version = 1 AND version = 2 OR version = 3") == Or(
        (And((eq(VERSION, 1), eq(VERSION, 2))), eq(VERSION, 3))
    )


def test_parentheses_regroup() -> None:
    assert parse_filter("(version = 1 OR version = 2) AND version = 3") == And(
        (Or((eq(VERSION, 1), eq(VERSION, 2))), eq(VERSION, 3))
    )
    assert parse_filter("((version = 1))") == eq(VERSION, 1)


def test_chains_of_the_same_operator_are_flat() -> None:
    assert parse_filter("version = 1 AND version = 2 AND version = 3") == And(
        (eq(VERSION, 1), eq(VERSION, 2), eq(VERSION, 3))
    )
    assert parse_filter("version = 1 or version = 2 or version = 3") == Or(
        (eq(VERSION, 1), eq(VERSION, 2), eq(VERSION, 3))
    )


def test_not_binds_tighter_than_and() -> None:
    assert parse_filter("NOT version = 1 AND version = 2") == And((Not(eq(VERSION, 1)), eq(VERSION, 2)))
    assert parse_filter("NOT (version = 1 AND version = 2)") == Not(And((eq(VERSION, 1), eq(VERSION, 2))))
    assert parse_filter("not not version = 1") == Not(Not(eq(VERSION, 1)))


def test_keywords_are_case_insensitive() -> None:
    assert parse_filter('version = 1 and NOT stage in ("production") Or author like "a%"') == Or(
        (And((eq(VERSION, 1), Not(InList(STAGE, ("PRODUCTION",))))), Like(Field("author"), "a%"))
    )


def test_whitespace_is_optional_around_symbols() -> None:
    assert parse_filter('(version>=2)AND(project!="x")') == And(
        (Comparison(VERSION, Op.GE, 2), Comparison(PROJECT, Op.NE, "x"))
    )


# --- operators and predicates --------------------------------------------------------------


@pytest.mark.parametrize("op", list(Op))
def test_every_comparison_operator(op: Op) -> None:
    assert parse_filter(f"version {op.value} 3") == Comparison(VERSION, op, 3)
    assert parse_filter(f"metrics.acc {op.value} 3") == Comparison(Field("metrics", "acc"), op, 3.0)


def test_in_and_not_in() -> None:
    assert parse_filter("version IN (1, 2,3)") == InList(VERSION, (1, 2, 3))
    assert parse_filter('project NOT IN ("a")') == InList(PROJECT, ("a",), negated=True)
    assert parse_filter('status in ("ready", "Failed")') == InList(STATUS, ("READY", "FAILED"))


def test_like_and_not_like() -> None:
    assert parse_filter('model LIKE "churn%"') == Like(Field("model"), "churn%")
    assert parse_filter("framework NOT LIKE 'sk_learn'") == Like(Field("framework"), "sk_learn", negated=True)
    assert parse_filter('alias LIKE "ch%"') == Like(Field("alias"), "ch%")
    assert parse_filter(f'digest = "{"AB" * 32}"') == Comparison(Field("digest"), Op.EQ, "ab" * 32)
    assert parse_filter(f'digest NOT IN ("{"0" * 64}")') == InList(Field("digest"), ("0" * 64,), True)
    assert parse_filter('params.solver LIKE "l%"') == Like(Field("params", "solver"), "l%")
    assert parse_filter('tags.team not like "r%"') == Like(Field("tags", "team"), "r%", negated=True)


def test_stage_and_status_are_upper_cased() -> None:
    assert parse_filter('stage = "production"') == eq(STAGE, "PRODUCTION")
    assert parse_filter("status != 'Pending_Upload'") == Comparison(STATUS, Op.NE, "PENDING_UPLOAD")


def test_name_is_the_model_name() -> None:
    assert parse_filter('name = "churn"') == parse_filter('model = "churn"') == eq(Field("model"), "churn")


def test_field_names_are_case_insensitive_but_keys_are_not() -> None:
    assert parse_filter('Stage = "ARCHIVED"') == eq(STAGE, "ARCHIVED")
    assert parse_filter('TAGS.Team = "x"') == eq(Field("tags", "Team"), "x")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('tags.team = "x"', Field("tags", "team")),
        ('tags.a.b-c_d/e = "x"', Field("tags", "a.b-c_d/e")),
        ('tags.`with space` = "x"', Field("tags", "with space")),
        ('tags.`a"b` = "x"', Field("tags", 'a"b')),
        ('tags.0day = "x"', Field("tags", "0day")),
    ],
)
def test_keys(text: str, field: Field) -> None:
    assert parse_filter(text) == eq(field, "x")


def test_field_types() -> None:
    assert Field("tags", "t").type is FieldType.TEXT and Field("tags", "t").nullable
    assert Field("metrics", "m").type is FieldType.NUMBER
    assert Field("params", "p").type is FieldType.JSON
    assert Field("created").type is FieldType.TIME and not Field("created").nullable
    assert str(Field("tags", "a b")) == "tags.`a b`" and str(Field("tags", "a.b")) == "tags.a.b"


def test_params_keep_their_json_type() -> None:
    assert parse_filter("params.a = 4") == eq(Field("params", "a"), 4)
    assert parse_filter("params.a = 4.5") == eq(Field("params", "a"), 4.5)
    assert parse_filter('params.a = "x"') == eq(Field("params", "a"), "x")
    assert parse_filter("params.a = TRUE") == eq(Field("params", "a"), True)
    assert parse_filter('params.a IN (1, "1", false)') == InList(Field("params", "a"), (1, "1", False))


def test_metrics_are_floats() -> None:
    result = parse_filter("metrics.acc > 1")
    assert result == Comparison(Field("metrics", "acc"), Op.GT, 1.0)
    assert isinstance(result.value, float)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("-1e+2", -100.0),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_number_forms(literal: str, value: float) -> None:
    result = parse_filter(f"params.x = {literal}")
    assert result == eq(Field("params", "x"), value)
    assert type(result.value) is type(value)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline\r"', "tab\tnew\nline\r"),
        ('""', ""),
        ('"ünïcødé ✓"', "ünïcødé ✓"),
        ('"AND OR NOT ( ) ,"', "AND OR NOT ( ) ,"),
    ],
)
def test_strings_and_escapes(literal: str, value: str) -> None:
    assert parse_filter(f"author = {literal}") == eq(Field("author"), value)


def test_like_pattern_keeps_an_escaped_backslash_for_sql() -> None:
    assert parse_filter(r'model LIKE "a\\_b%"') == Like(Field("model"), r"a\_b%")


@pytest.mark.parametrize(
    ("literal", "moment"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00.250Z", datetime(2026, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2026-01-31T12:00:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31 12:00:00+02:00", datetime(2026, 1, 31, 12, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_timestamps(literal: str, moment: datetime) -> None:
    result = parse_filter(f'created >= "{literal}"')
    assert result == Comparison(Field("created"), Op.GE, moment)
    assert result.value.utcoffset() == moment.utcoffset()  # type: ignore[union-attr]
    assert parse_filter(f'updated < "{literal}"') == Comparison(Field("updated"), Op.LT, moment)


# --- errors ----------------------------------------------------------------------------------

ALL_FIELDS = (
    "project, model (or name), version, stage, status, framework, payload_format, author, alias, "
    "digest, created, updated, tags.KEY, metrics.KEY, params.KEY"
)
ORDER_FIELDS = (
    "project, model (or name), version, stage, status, framework, payload_format, author, "
    "created, updated, tags.KEY, metrics.KEY, params.KEY"
)
OPERATORS = "(=, !=, <, <=, >, >=, IN, NOT IN, LIKE, NOT LIKE)"
TEXT_FIELDS = "(project, model, framework, payload_format, author, alias, tags.KEY, params.KEY)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # positions are 1-based and point at the offending token
        ('stage = "PRODUCTION" AND version >= )', "at position 37: expected a value after '>=', found ')'"),
        ("version =", "at position 10: expected a value after '=', found the end of the filter"),
        ("project = churn", "at position 11: expected a value after '=' (quote text values), found 'churn'"),
        ("version = AND", "at position 11: expected a value after '=', found 'AND'"),
        ("foo = 1", f"at position 1: unknown field 'foo'; valid fields are {ALL_FIELDS}"),
        ("version = 1 AND bar.x = 1", f"at position 17: unknown field 'bar.x'; valid fields are {ALL_FIELDS}"),
        ('stage.x = "a"', f"at position 1: unknown field 'stage.x'; valid fields are {ALL_FIELDS}"),
        ('tags = "x"', "at position 1: 'tags' needs a key, as in tags.KEY"),
        ("metrics > 1", "at position 1: 'metrics' needs a key, as in metrics.KEY"),
        ('tags. = "x"', "at position 6: expected a key after 'tags.'"),
        ('tags.`` = "x"', "at position 6: expected a key after 'tags.'"),
        ('tags.`abc = "x"', "at position 6: unterminated `quoted key`"),
        ("= 1", "at position 1: expected a field, NOT or '(', found '='"),
        ("version = 1 AND", "at position 16: expected a field, NOT or '(' after 'AND', found the end of the filter"),
        ("version = 1 OR OR version = 2", "at position 16: expected a field, NOT or '(' after 'OR', found 'OR'"),
        ("NOT", "at position 4: expected a field, NOT or '(' after 'NOT', found the end of the filter"),
        ("()", "at position 2: expected a field, NOT or '(' after '(', found ')'"),
        ("version", f"at position 8: expected an operator {OPERATORS} after 'version', found the end of the filter"),
        ("version 1", f"at position 9: expected an operator {OPERATORS} after 'version', found '1'"),
        ('project NOT = "x"', "at position 13: expected IN or LIKE after 'NOT', found '='"),
        (
            "(version = 1",
            "at position 13: expected AND, OR or ')' to close the '(' at position 1, found the end of the filter",
        ),
        (
            "(version = 1 version = 2)",
            "at position 14: expected AND, OR or ')' to close the '(' at position 1, found 'version'",
        ),
        ("version = 1)", "at position 12: expected AND, OR or the end of the filter, found ')'"),
        ("version = 1 2", "at position 13: expected AND, OR or the end of the filter, found '2'"),
        ('project IN "a"', "at position 12: expected '(' after 'IN', found \"a\""),
        ('project NOT IN "a"', "at position 16: expected '(' after 'IN', found \"a\""),
        ("project IN ()", "at position 13: expected a value after '(', found ')'"),
        ('project IN ("a",)', "at position 17: expected a value after ',', found ')'"),
        ('project IN ("a" "b")', "at position 17: expected ',' or ')' in the IN list, found \"b\""),
        ('project IN ("a"', "at position 16: expected ',' or ')' in the IN list, found the end of the filter"),
        ("project LIKE 5", "at position 14: expected a quoted pattern after 'LIKE', found '5'"),
        ('stage LIKE "P%"', f"at position 7: LIKE works only on text fields {TEXT_FIELDS}, not on stage"),
        (
            "metrics.acc NOT LIKE 'x'",
            f"at position 17: LIKE works only on text fields {TEXT_FIELDS}, not on metrics.acc",
        ),
        ('created LIKE "2026%"', f"at position 9: LIKE works only on text fields {TEXT_FIELDS}, not on created"),
        ('stage < "PRODUCTION"', "at position 7: stage supports only =, != and IN, found '<'"),
        ('alias >= "a"', "at position 7: alias supports only =, !=, IN and LIKE, found '>='"),
        # value types
        (
            'stage = "LIVE"',
            'at position 9: stage must be one of DEVELOPMENT, VALIDATION, PRODUCTION, ARCHIVED, found "LIVE"',
        ),
        (
            "status IN ('READY', 'GONE')",
            "at position 21: status must be one of PENDING_UPLOAD, READY, FAILED, found 'GONE'",
        ),
        ("stage = 1", "at position 9: stage must be one of DEVELOPMENT, VALIDATION, PRODUCTION, ARCHIVED, found '1'"),
        ('metrics.acc > "x"', 'at position 15: metrics.acc compares with a number, found "x"'),
        ("metrics.acc > true", "at position 15: metrics.acc compares with a number, found 'true'"),
        ("version = 1.5", "at position 11: version compares with a whole number, found '1.5'"),
        ('version = "1"', 'at position 11: version compares with a whole number, found "1"'),
        ("version IN (1, 2e0)", "at position 16: version compares with a whole number, found '2e0'"),
        ("project = 1", "at position 11: project compares with a quoted string, found '1'"),
        ("name = false", "at position 8: name compares with a quoted string, found 'false'"),
        ("tags.team = 1", "at position 13: tags.team compares with a quoted string, found '1'"),
        ("alias = 1", "at position 9: alias compares with a quoted alias name, found '1'"),
        ('digest = "abc"', 'at position 10: digest compares with a quoted SHA-256 of 64 hex digits, found "abc"'),
        ('digest > "' + "a" * 64 + '"', "at position 8: digest supports only =, != and IN, found '>'"),
        (
            'created > "yesterday"',
            'at position 11: created compares with a timestamp such as "2026-01-31" or '
            '"2026-01-31T12:00:00Z", found "yesterday"',
        ),
        (
            "updated > 2026",
            'at position 11: updated compares with a timestamp such as "2026-01-31" or '
            "\"2026-01-31T12:00:00Z\", found '2026'",
        ),
        # lexical
        ('author = "abc', "at position 10: unterminated string"),
        ("author = 'abc\\'", "at position 10: unterminated string"),
        ('author = "abc\\', "at position 10: unterminated string"),
        (
            r'model LIKE "a\\"',
            "at position 12: a LIKE pattern cannot end with an unpaired backslash "
            r"(write \\\\ in quotes to match one backslash)",
        ),
        ('model = "a\x00"', "at position 11: unexpected character '\\x00'"),
        (r'author = "a\qb"', r"at position 12: unknown escape '\q' in string; use \\, \", \', \n, \t or \r"),
        ("version ! 1", "at position 9: expected '=' after '!'"),
        ("version = 1 # comment", "at position 13: unexpected character '#'"),
        ("version = 1 && version = 2", "at position 13: unexpected character '&'"),
        ("version = - 1", "at position 11: unexpected character '-'"),
        ("version = 1e999", "at position 11: number 1e999 is out of range"),
        ("version = 9223372036854775808", "at position 11: number 9223372036854775808 is out of range"),
        ("version == 1", "at position 10: expected a value after '=', found '='"),
        (
            'version = "' + "x" * 60 + '"',
            'at position 11: version compares with a whole number, found "' + "x" * 36 + "...",
        ),
    ],
)
def test_errors_point_at_the_position_and_say_what_was_expected(text: str, message: str) -> None:
    assert error(text) == f"filter: {message}"


# --- limits ----------------------------------------------------------------------------------


def test_filter_length_is_bounded() -> None:
    padded = "version = 1" + " " * (MAX_FILTER_LENGTH - len("version = 1"))
    assert parse_filter(padded) == eq(VERSION, 1)
    assert error(padded + " ") == (
        f"filter: is {MAX_FILTER_LENGTH + 1} characters long; at most {MAX_FILTER_LENGTH} allowed"
    )


def test_predicate_count_is_bounded() -> None:
    at_limit = " OR ".join(["version = 1"] * MAX_PREDICATES)
    assert isinstance(parse_filter(at_limit), Or)
    over = at_limit + " OR version = 2"
    assert error(over) == (
        f"filter: at position {len(at_limit) + 5}: too many predicates: at most {MAX_PREDICATES} allowed"
    )


def test_nesting_depth_is_bounded() -> None:
    at_limit = "(" * MAX_DEPTH + "version = 1" + ")" * MAX_DEPTH
    assert parse_filter(at_limit) == eq(VERSION, 1)
    over = "(" * (MAX_DEPTH + 1) + "version = 1" + ")" * (MAX_DEPTH + 1)
    assert error(over) == f"filter: at position {MAX_DEPTH + 1}: nesting is deeper than {MAX_DEPTH} levels"
    assert error("NOT " * (MAX_DEPTH + 1) + "version = 1") == (
        f"filter: at position {4 * MAX_DEPTH + 1}: nesting is deeper than {MAX_DEPTH} levels"
    )
    assert error("NOT (" * 17 + "version = 1" + ")" * 17).endswith(f"nesting is deeper than {MAX_DEPTH} levels")


def test_in_list_length_is_bounded() -> None:
    values = ", ".join(str(i) for i in range(MAX_IN_VALUES))
    assert parse_filter(f"version IN ({values})") == InList(VERSION, tuple(range(MAX_IN_VALUES)))
    text = f"version IN ({values}, 100)"
    assert error(text) == (
        f"filter: at position {text.index(', 100') + 3}: too many values in the IN list: "
        f"at most {MAX_IN_VALUES} allowed"
    )


# --- order_by ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "  "])
def test_empty_order_by_means_newest_first(text: str) -> None:
    assert parse_order_by(text) == DEFAULT_ORDER == (OrderKey(Field("created"), descending=True),)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("version", (OrderKey(VERSION),)),
        ("version asc", (OrderKey(VERSION),)),
        ("version DESC", (OrderKey(VERSION, descending=True),)),
        ("name, version desc", (OrderKey(Field("model")), OrderKey(VERSION, descending=True))),
        ("metrics.accuracy DESC,created", (OrderKey(Field("metrics", "accuracy"), True), OrderKey(Field("created")))),
        (
            "params.max_depth, tags.`team name` Desc, updated, author",
            (
                OrderKey(Field("params", "max_depth")),
                OrderKey(Field("tags", "team name"), True),
                OrderKey(Field("updated")),
                OrderKey(Field("author")),
            ),
        ),
        (
            "project, stage, status, framework",
            tuple(OrderKey(Field(n)) for n in ("project", "stage", "status", "framework")),
        ),
    ],
)
def test_order_by(text: str, keys: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(text) == keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("size", f"at position 1: unknown field 'size'; valid fields are {ORDER_FIELDS}"),
        ("alias", f"at position 1: cannot order by 'alias'; order by one of {ORDER_FIELDS}"),
        ("digest", f"at position 1: cannot order by 'digest'; order by one of {ORDER_FIELDS}"),
        ("tags DESC", "at position 1: 'tags' needs a key, as in tags.KEY"),
        ("version DESC,", "at position 14: expected a field to order by, found the end of order_by"),
        (",version", "at position 1: expected a field to order by, found ','"),
        ("DESC", "at position 1: expected a field to order by, found 'DESC'"),
        ("version DOWN", "at position 9: expected ASC, DESC, ',' or the end of order_by, found 'DOWN'"),
        ("version DESC ASC", "at position 14: expected ASC, DESC, ',' or the end of order_by, found 'ASC'"),
        ("version, name, version", "at position 16: 'version' appears twice"),
        ("model, name", "at position 8: 'name' appears twice"),
        (
            "version, author, created, updated, project",
            f"at position 36: too many keys: at most {MAX_ORDER_KEYS} allowed",
        ),
        ('"version"', 'at position 1: expected a field to order by, found "version"'),
        ("version;", "at position 8: unexpected character ';'"),
    ],
)
def test_order_by_errors(text: str, message: str) -> None:
    assert order_error(text) == f"order_by: {message}"


def test_order_by_length_is_bounded() -> None:
    assert order_error("version" + " " * 2000).startswith("order_by: is 2007 characters long")
