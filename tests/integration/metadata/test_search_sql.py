"""Version search compiled to SQL, run against a real Postgres holding the metadata schema."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.migrations import migrate
from modelyard_metadata.domain.search import parse_filter, parse_order_by
from modelyard_metadata.storage.search_sql import compile_search

MIGRATIONS = "modelyard_metadata.migrations"


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# label: (stage, status, framework, payload_format, author, created, tags, params, metrics, aliases)
# fmt: off
VERSIONS: dict[str, tuple[Any, ...]] = {
    "alpha/churn:1": ("ARCHIVED", "READY", "sklearn", "skops", "ann", "2026-01-01",
                      {"team": "risk", "env": "prod"}, {"max_depth": 3, "solver": "lbfgs", "balanced": True},
                      {"accuracy": 0.81, "importance": {"age": 0.4}}, []),
    "alpha/churn:2": ("PRODUCTION", "READY", "sklearn", "skops", "ann", "2026-01-10",
                      {"team": "risk"}, {"max_depth": 6, "solver": "saga", "balanced": False},
                      {"accuracy": 0.93, "f1": 0.88}, ["champion"]),
    "alpha/churn:3": ("VALIDATION", "READY", "xgboost", "json", "bob", "2026-01-20",
                      {"team": "fraud"}, {"max_depth": 8, "solver": "auto"}, {"accuracy": 0.93}, ["challenger"]),
    "alpha/fraud-detector:1": ("DEVELOPMENT", "FAILED", "pytorch", "pt", "carol", "2026-02-01",
                               {}, {"lr": 0.001, "max_depth": "deep"}, {}, []),
    "alpha/fraud-detector:2": ("DEVELOPMENT", "PENDING_UPLOAD", "pytorch", "pt", "carol", "2026-02-05",
                               {"team": "fraud", "owner/name": "x"}, {}, {"accuracy": {"curve": [1, 2]}}, []),
    "beta/ranker:1": ("PRODUCTION", "READY", "onnx", "onnx", "dave", "2026-02-10",
                      {"team": "search"}, {"max_depth": 4.5}, {"accuracy": 0.75}, ["champion"]),
    "beta/ranker:2": ("DEVELOPMENT", "READY", "sklearn", "skops", "dave", "2026-02-10",
                      {"team": "search", "env": "dev"}, {"max_depth": 4}, {"accuracy": 0.99, "loss": 0.1}, []),
}
# fmt: on
# label: the artifact's files (path, sha256); the others have no artifact
A, B, C = "a" * 64, "b" * 64, "c" * 64
ARTIFACTS: dict[str, list[tuple[str, str]]] = {
    "alpha/churn:1": [("model.skops", A)],
    "alpha/churn:2": [("model.skops", B), ("extra/config.json", A)],
    "beta/ranker:1": [("model.onnx", C)],
}
ALL_NEWEST_FIRST = [
    "beta/ranker:2",
    "beta/ranker:1",
    "alpha/fraud-detector:2",
    "alpha/fraud-detector:1",
    "alpha/churn:3",
    "alpha/churn:2",
    "alpha/churn:1",
]  # ranker:1 and ranker:2 share created_at; the tie goes to the higher id


async def _seed(conn: asyncpg.Connection) -> None:
    """Inserts VERSIONS in order, so ids follow the dict order."""
    for label, (stage, status, framework, fmt, author, created, tags, params, metrics, aliases) in VERSIONS.items():
        project, rest = label.split("/")
        model, version = rest.split(":")
        project_id = await conn.fetchval(
            "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
            "RETURNING id",
            project,
        )
        model_id = await conn.fetchval(
            "INSERT INTO models (project_id, project, name, kind) VALUES ($1, $2, $3, 'STANDARD') "
            "ON CONFLICT (project_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            project_id,
            project,
            model,
        )
        metric_values = {
            name: {"number": value, "step": 1, "time": "2026-01-01T00:00:00Z"}
            if isinstance(value, float)
            else {"structured": value, "step": 0, "time": "2026-01-01T00:00:00Z"}
            for name, value in metrics.items()
        }
        version_id = await conn.fetchval(
            "INSERT INTO model_versions (model_id, project, model, version, stage, status, framework, "
            "payload_format, author, tags, params, metrics, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13, $14) RETURNING id",
            model_id,
            project,
            model,
            int(version),
            stage,
            status,
            framework,
            fmt,
            author,
            json.dumps(tags),
            json.dumps(params),
            json.dumps(metric_values),
            _day(created),
            _day(created).replace(hour=12),
        )
        if label in ARTIFACTS:
            files = [{"path": path, "sha256": sha, "size": 1} for path, sha in ARTIFACTS[label]]
            await conn.execute(
                "UPDATE model_versions SET artifact = $2::jsonb WHERE id = $1", version_id, json.dumps({"files": files})
            )
        for alias in aliases:
            await conn.execute(
                "INSERT INTO aliases (model_id, alias, version_id) VALUES ($1, $2, $3)", model_id, alias, version_id
            )


@pytest.fixture(scope="module")
async def conn(postgres: Any) -> AsyncIterator[asyncpg.Connection]:
    """One seeded database for the whole module: every test here only reads."""
    connection = await asyncpg.connect(postgres.create_database(f"search_{uuid.uuid4().hex}"))
    await migrate(connection, MIGRATIONS)
    await _seed(connection)
    yield connection
    await connection.close()


async def _search(
    conn: asyncpg.Connection,
    filter: str = "",
    order_by: str = "",
    *,
    project: str | None = None,
    page_token: str = "",
    page_size: int = 100,
) -> tuple[list[str], str]:
    search = compile_search(
        parse_filter(filter), parse_order_by(order_by), project=project, page_token=page_token, page_size=page_size
    )
    rows, token = search.page(await conn.fetch(search.query(), *search.args))
    return [f"{r['project']}/{r['model']}:{r['version']}" for r in rows], token


async def _all_pages(conn: asyncpg.Connection, filter: str, order_by: str, page_size: int) -> list[str]:
    seen: list[str] = []
    token = ""
    for _ in range(len(VERSIONS) + 1):
        page, token = await _search(conn, filter, order_by, page_token=token, page_size=page_size)
        assert len(page) <= page_size
        seen += page
        if not token:
            return seen
    raise AssertionError("paging did not end")


def _only(*labels: str) -> list[str]:
    """The labels, newest first (the default order)."""
    return [label for label in ALL_NEWEST_FIRST if label in labels]


FILTERS = [
    ("", ALL_NEWEST_FIRST),
    ('stage = "PRODUCTION"', _only("alpha/churn:2", "beta/ranker:1")),
    ("stage = 'production'", _only("alpha/churn:2", "beta/ranker:1")),
    ('stage != "DEVELOPMENT"', _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3", "beta/ranker:1")),
    ('status IN ("FAILED", "PENDING_UPLOAD")', _only("alpha/fraud-detector:1", "alpha/fraud-detector:2")),
    ('status NOT IN ("READY")', _only("alpha/fraud-detector:1", "alpha/fraud-detector:2")),
    ('project = "beta"', _only("beta/ranker:1", "beta/ranker:2")),
    ('name = "churn"', _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3")),
    ('model LIKE "fraud%"', _only("alpha/fraud-detector:1", "alpha/fraud-detector:2")),
    ('model NOT LIKE "%r" AND project = "alpha"', _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3")),
    ("version >= 2", _only("alpha/churn:2", "alpha/churn:3", "alpha/fraud-detector:2", "beta/ranker:2")),
    ("version IN (1, 3)", _only("alpha/churn:1", "alpha/churn:3", "alpha/fraud-detector:1", "beta/ranker:1")),
    ('framework = "sklearn" AND author = "ann"', _only("alpha/churn:1", "alpha/churn:2")),
    ('payload_format = "pt"', _only("alpha/fraud-detector:1", "alpha/fraud-detector:2")),
    ('author < "c"', _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3")),
    # AND binds tighter than OR; parentheses regroup.
    ('stage = "PRODUCTION" OR stage = "VALIDATION" AND framework = "sklearn"', _only("alpha/churn:2", "beta/ranker:1")),
    ('(stage = "PRODUCTION" OR stage = "VALIDATION") AND framework = "sklearn"', _only("alpha/churn:2")),
    ('NOT (project = "alpha" OR version = 1)', _only("beta/ranker:2")),
    ('alias = "champion"', _only("alpha/churn:2", "beta/ranker:1")),
    (
        'alias != "champion"',
        _only("alpha/churn:1", "alpha/churn:3", "alpha/fraud-detector:1", "alpha/fraud-detector:2", "beta/ranker:2"),
    ),
    ('alias IN ("challenger", "champion")', _only("alpha/churn:2", "alpha/churn:3", "beta/ranker:1")),
    ('alias LIKE "chall%"', _only("alpha/churn:3")),
    (
        'alias NOT IN ("champion", "challenger") AND project = "alpha"',
        _only("alpha/churn:1", "alpha/fraud-detector:1", "alpha/fraud-detector:2"),
    ),
    (
        'created >= "2026-02-01"',
        _only("alpha/fraud-detector:1", "alpha/fraud-detector:2", "beta/ranker:1", "beta/ranker:2"),
    ),
    ('created < "2026-01-15T00:00:00Z"', _only("alpha/churn:1", "alpha/churn:2")),
    ('created > "2026-01-10T00:00:00+01:00"', _only(*ALL_NEWEST_FIRST[:-1])),
    ('created = "2026-02-10"', _only("beta/ranker:1", "beta/ranker:2")),
    ('updated > "2026-02-10T11:59:59Z"', _only("beta/ranker:1", "beta/ranker:2")),
    ('tags.team = "risk"', _only("alpha/churn:1", "alpha/churn:2")),
    (
        'tags.team IN ("risk", "fraud") AND NOT status = "FAILED"',
        _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3", "alpha/fraud-detector:2"),
    ),
    # != needs the tag; NOT = does not.
    ('tags.team != "risk"', _only("alpha/churn:3", "alpha/fraud-detector:2", "beta/ranker:1", "beta/ranker:2")),
    (
        'NOT tags.team = "risk"',
        _only("alpha/churn:3", "alpha/fraud-detector:1", "alpha/fraud-detector:2", "beta/ranker:1", "beta/ranker:2"),
    ),
    ('tags.env LIKE "d%"', _only("beta/ranker:2")),
    ('tags.env NOT LIKE "d%"', _only("alpha/churn:1")),
    ('tags.`owner/name` = "x"', _only("alpha/fraud-detector:2")),
    ("tags.owner/name = 'x'", _only("alpha/fraud-detector:2")),
    ('tags.team > "r"', _only("alpha/churn:1", "alpha/churn:2", "beta/ranker:1", "beta/ranker:2")),
    ("metrics.accuracy >= 0.9", _only("alpha/churn:2", "alpha/churn:3", "beta/ranker:2")),
    ("metrics.accuracy < 0.9", _only("alpha/churn:1", "beta/ranker:1")),
    (
        "NOT metrics.accuracy >= 0.9",
        _only("alpha/churn:1", "alpha/fraud-detector:1", "alpha/fraud-detector:2", "beta/ranker:1"),
    ),
    ("metrics.accuracy IN (0.93, 0.75)", _only("alpha/churn:2", "alpha/churn:3", "beta/ranker:1")),
    ("metrics.accuracy != 0.93", _only("alpha/churn:1", "beta/ranker:1", "beta/ranker:2")),
    ("metrics.importance > -1", []),  # structured metrics have no number
    ("metrics.f1 = 0.88", _only("alpha/churn:2")),
    ('stage = "PRODUCTION" AND metrics.accuracy >= 0.9', _only("alpha/churn:2")),
    ("params.max_depth > 4", _only("alpha/churn:2", "alpha/churn:3", "beta/ranker:1")),
    ("params.max_depth = 4", _only("beta/ranker:2")),
    ("params.max_depth = 4.0", _only("beta/ranker:2")),
    ("params.max_depth <= 4", _only("alpha/churn:1", "beta/ranker:2")),
    ('params.max_depth = "deep"', _only("alpha/fraud-detector:1")),
    ('params.max_depth > "a"', _only("alpha/fraud-detector:1")),
    ("params.max_depth != 6", _only("alpha/churn:1", "alpha/churn:3", "beta/ranker:1", "beta/ranker:2")),
    ('params.max_depth IN (3, "deep")', _only("alpha/churn:1", "alpha/fraud-detector:1")),
    ("params.max_depth NOT IN (3, 4, 4.5)", _only("alpha/churn:2", "alpha/churn:3", "alpha/fraud-detector:1")),
    ('params.solver LIKE "%a%"', _only("alpha/churn:2", "alpha/churn:3")),
    ('params.max_depth LIKE "d%"', _only("alpha/fraud-detector:1")),
    ("params.balanced = true", _only("alpha/churn:1")),
    ("params.balanced != TRUE", _only("alpha/churn:2")),
    ("params.lr < 0.01", _only("alpha/fraud-detector:1")),
    (
        'params.max_depth > 4 OR framework LIKE "sk%"',
        _only("alpha/churn:1", "alpha/churn:2", "alpha/churn:3", "beta/ranker:1", "beta/ranker:2"),
    ),
    # digest: some file of the artifact has it; a version without an artifact has none.
    (f'digest = "{A}"', _only("alpha/churn:2", "alpha/churn:1")),
    (f'digest = "{A.upper()}" AND model = "churn"', _only("alpha/churn:2", "alpha/churn:1")),
    (
        f'digest != "{A}"',
        _only("beta/ranker:2", "beta/ranker:1", "alpha/fraud-detector:2", "alpha/fraud-detector:1", "alpha/churn:3"),
    ),
    (f'digest IN ("{C}", "{B}")', _only("beta/ranker:1", "alpha/churn:2")),
    (f'digest NOT IN ("{A}", "{C}") AND project = "beta"', _only("beta/ranker:2")),
    # Values are parameters: quotes in values or keys are just characters.
    ('tags.team = "x\'; DROP TABLE model_versions; --"', []),
    ("tags.`a'b\"c` = 'x' OR params.`it's` = 1 OR author = '\\'\\\\'", []),
]


@pytest.mark.parametrize(("filter", "expected"), FILTERS, ids=[f or "<empty>" for f, _ in FILTERS])
async def test_search_returns_the_matching_versions_newest_first(
    conn: asyncpg.Connection, filter: str, expected: list[str]
) -> None:
    assert (await _search(conn, filter))[0] == expected


async def test_search_is_scoped_to_the_project(conn: asyncpg.Connection) -> None:
    assert (await _search(conn, 'stage = "PRODUCTION"', project="alpha"))[0] == ["alpha/churn:2"]
    assert (await _search(conn, project="beta"))[0] == ["beta/ranker:2", "beta/ranker:1"]


ORDERS = [
    (
        "created",
        [
            "alpha/churn:1",
            "alpha/churn:2",
            "alpha/churn:3",
            "alpha/fraud-detector:1",
            "alpha/fraud-detector:2",
            "beta/ranker:1",
            "beta/ranker:2",
        ],
    ),
    (
        "name, version DESC",
        [
            "alpha/churn:3",
            "alpha/churn:2",
            "alpha/churn:1",
            "alpha/fraud-detector:2",
            "alpha/fraud-detector:1",
            "beta/ranker:2",
            "beta/ranker:1",
        ],
    ),
    (
        "project DESC, stage, version",
        [
            "beta/ranker:2",
            "beta/ranker:1",
            "alpha/churn:1",
            "alpha/fraud-detector:1",
            "alpha/fraud-detector:2",
            "alpha/churn:2",
            "alpha/churn:3",
        ],
    ),
    # Ties (churn:2 and churn:3 at 0.93) break by id in the last key's direction; missing values go last.
    (
        "metrics.accuracy DESC",
        [
            "beta/ranker:2",
            "alpha/churn:3",
            "alpha/churn:2",
            "alpha/churn:1",
            "beta/ranker:1",
            "alpha/fraud-detector:2",
            "alpha/fraud-detector:1",
        ],
    ),
    (
        "metrics.accuracy",
        [
            "beta/ranker:1",
            "alpha/churn:1",
            "alpha/churn:2",
            "alpha/churn:3",
            "beta/ranker:2",
            "alpha/fraud-detector:1",
            "alpha/fraud-detector:2",
        ],
    ),
    # JSON order: strings, then numbers; versions without the parameter last.
    (
        "params.max_depth",
        [
            "alpha/fraud-detector:1",
            "alpha/churn:1",
            "beta/ranker:2",
            "beta/ranker:1",
            "alpha/churn:2",
            "alpha/churn:3",
            "alpha/fraud-detector:2",
        ],
    ),
    (
        "tags.env DESC, created ASC",
        [
            "alpha/churn:1",
            "beta/ranker:2",
            "alpha/churn:2",
            "alpha/churn:3",
            "alpha/fraud-detector:1",
            "alpha/fraud-detector:2",
            "beta/ranker:1",
        ],
    ),
    (
        "tags.team, metrics.accuracy DESC",
        [
            "alpha/churn:3",
            "alpha/fraud-detector:2",
            "alpha/churn:2",
            "alpha/churn:1",
            "beta/ranker:2",
            "beta/ranker:1",
            "alpha/fraud-detector:1",
        ],
    ),
    (
        "status, framework DESC",
        [
            "alpha/fraud-detector:1",
            "alpha/fraud-detector:2",
            "alpha/churn:3",
            "beta/ranker:2",
            "alpha/churn:2",
            "alpha/churn:1",
            "beta/ranker:1",
        ],
    ),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[o for o, _ in ORDERS])
async def test_search_orders_by_the_requested_keys(
    conn: asyncpg.Connection, order_by: str, expected: list[str]
) -> None:
    assert (await _search(conn, order_by=order_by))[0] == expected


PAGED_ORDERS = [*ORDERS, ("", ALL_NEWEST_FIRST), ("updated DESC", None), ("params.solver DESC, version", None)]


@pytest.mark.parametrize(("order_by", "expected"), PAGED_ORDERS, ids=[o or "<default>" for o, _ in PAGED_ORDERS])
@pytest.mark.parametrize("page_size", [1, 2, 3])
async def test_paging_returns_every_version_once_in_order(
    conn: asyncpg.Connection, order_by: str, expected: list[str] | None, page_size: int
) -> None:
    whole, token = await _search(conn, order_by=order_by)
    assert token == ""
    assert await _all_pages(conn, "", order_by, page_size) == (expected or whole)


async def test_paging_a_nullable_key_crosses_from_values_to_missing_values(conn: asyncpg.Connection) -> None:
    first, token = await _search(conn, order_by="metrics.accuracy DESC", page_size=2)
    assert first == ["beta/ranker:2", "alpha/churn:3"]
    pages = [first]
    while token:
        page, token = await _search(conn, order_by="metrics.accuracy DESC", page_token=token, page_size=2)
        pages.append(page)
    assert pages == [
        ["beta/ranker:2", "alpha/churn:3"],
        ["alpha/churn:2", "alpha/churn:1"],
        ["beta/ranker:1", "alpha/fraud-detector:2"],  # the last value, then the first version without one
        ["alpha/fraud-detector:1"],
    ]


async def test_paging_with_a_filter_keeps_filtering(conn: asyncpg.Connection) -> None:
    filter = 'tags.team IN ("risk", "fraud", "search") AND NOT stage = "ARCHIVED"'
    assert await _all_pages(conn, filter, "params.max_depth DESC", 2) == [
        "alpha/churn:3",
        "alpha/churn:2",
        "beta/ranker:1",
        "beta/ranker:2",
        "alpha/fraud-detector:2",
    ]


async def test_page_token_survives_a_respelled_but_equal_query(conn: asyncpg.Connection) -> None:
    _, token = await _search(conn, 'stage != "ARCHIVED"', "metrics.accuracy desc", page_size=2)
    page, _ = await _search(conn, "STAGE != 'archived'", "metrics.accuracy DESC", page_token=token, page_size=2)
    assert page == ["alpha/churn:2", "beta/ranker:1"]


@pytest.mark.parametrize(
    ("filter", "order_by", "project"),
    [('stage = "PRODUCTION"', "", None), ("", "created", None), ("", "", "alpha"), ("", "metrics.accuracy DESC", None)],
    ids=["other filter", "other order", "other project", "other key"],
)
async def test_page_token_from_another_query_is_refused(
    conn: asyncpg.Connection, filter: str, order_by: str, project: str | None
) -> None:
    _, token = await _search(conn, page_size=2)
    assert token
    with pytest.raises(InvalidArgumentError) as caught:
        await _search(conn, filter, order_by, project=project, page_token=token, page_size=2)
    assert caught.value.field == "page_token"
    assert "another filter, order_by or project" in str(caught.value)


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    ["not a token!", "e30", _forge({"a": 1}), _forge(["x"]), "%%%", "A" * 5000, "ab=c"],
    ids=["junk", "json object", "wrong shape", "too short", "bad base64", "too long", "inner padding"],
)
async def test_malformed_page_token_is_refused(conn: asyncpg.Connection, token: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^page_token: is malformed"):
        await _search(conn, page_token=token)


async def test_page_token_with_values_of_the_wrong_type_is_refused(conn: asyncpg.Connection) -> None:
    _, token = await _search(conn, order_by="metrics.accuracy DESC", page_size=2)
    fingerprint, values = json.loads(base64.urlsafe_b64decode(token + "=="))
    for bad in (
        [values[0], "7"],
        ["0.5", values[1]],
        [values[0]],
        [values[0], values[1], 1],
        [None, None],
        [values[0], 2**63],
        [values[0], True],
        ["1e999", values[1]],
        "x",
    ):
        with pytest.raises(InvalidArgumentError, match=r"^page_token: is malformed"):
            await _search(conn, order_by="metrics.accuracy DESC", page_token=_forge([fingerprint, bad]))
    # Well-formed values are accepted even if no row has them: the token is a position, not a row.
    page, _ = await _search(conn, order_by="metrics.accuracy DESC", page_token=_forge([fingerprint, [0.9, 0]]))
    assert page == ["alpha/churn:1", "beta/ranker:1", "alpha/fraud-detector:2", "alpha/fraud-detector:1"]


async def test_page_token_with_values_postgres_cannot_hold_is_refused(conn: asyncpg.Connection) -> None:
    _, token = await _search(conn, order_by="params.solver, created", page_size=1)
    fingerprint, (solver, created, id_) = json.loads(base64.urlsafe_b64decode(token + "=="))
    assert (solver, id_) == ('"auto"', 3)
    for bad in (
        ["not json", created, id_],
        ['"a\\u0000"', created, id_],
        ["1e999", created, id_],
        ['[1, {"a": NaN}]', created, id_],
        ["\x00", created, id_],
        [solver, "yesterday", id_],
        [solver, "2026-01-01T00:00:00", id_],
    ):  # no offset: ambiguous
        with pytest.raises(InvalidArgumentError, match=r"^page_token: is malformed"):
            await _search(conn, order_by="params.solver, created", page_token=_forge([fingerprint, bad]))
    page, _ = await _search(
        conn, order_by="params.solver, created", page_token=_forge([fingerprint, ['{"a": [1.5, "x"]}', created, id_]])
    )
    assert page == ["alpha/fraud-detector:1", "alpha/fraud-detector:2", "beta/ranker:1", "beta/ranker:2"]


def test_values_and_keys_never_appear_in_the_sql() -> None:
    search = compile_search(
        parse_filter("tags.`secret-key` = 'secret-value' AND params.p LIKE \"zz%\" AND alias = 'champ'"),
        parse_order_by("metrics.`weird key` DESC"),
        project="proj-x",
        page_token="",
        page_size=10,
        first_param=3,
    )
    sql = search.query()
    for text in ("secret", "zz%", "champ", "weird", "proj-x"):
        assert text not in sql
    assert min(int(part.split("::")[0]) for part in sql.split("$")[1:]) == 3
    assert search.order_sql.endswith("v.id DESC")
