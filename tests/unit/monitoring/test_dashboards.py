"""The Grafana dashboards, checked as Grafana would load them: unique ids, a layout that fits the
24-column grid without overlaps, queries on the Prometheus data source variable, and every
variable a query uses defined. (tests/integration/observability runs each query on Prometheus.)"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

DASHBOARDS = sorted((Path(__file__).resolve().parents[3] / "deploy/k8s/monitoring/dashboards").glob("*.json"))
PANEL_TYPES = {"row", "timeseries", "stat", "table"}
BUILTINS = {"__rate_interval", "__range", "__interval"}


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def test_there_is_an_overview_and_a_serving_dashboard_with_distinct_uids() -> None:
    boards = [load(p) for p in DASHBOARDS]
    assert sorted(b["uid"] for b in boards) == ["modelyard-overview", "modelyard-serving"]
    for board in boards:
        assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
        assert board["title"].startswith("Modelyard / ") and board["schemaVersion"] >= 36


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    panels = load(path)["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    boxes = []
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] >= 1 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] >= 1 and grid["y"] >= 0, panel["title"]
        if panel["type"] == "row":
            assert (grid["x"], grid["w"], grid["h"]) == (0, 24, 1)
        boxes.append((panel["title"], grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"]))
    for a, b in itertools.combinations(boxes, 2):
        overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
        assert not overlap, f"{a[0]!r} overlaps {b[0]!r}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_queries_use_the_data_source_variable_and_defined_variables(path: Path) -> None:
    board = load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${datasource}"}
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == source
            assert re.fullmatch(r"label_values\(.+, \w+\)", variable["query"]["query"]), variable["name"]
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == source, panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']} has no query"
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            expr = target["expr"]
            assert target["datasource"] == source
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), panel["title"]
            used = set(re.findall(r"\$(\w+)", expr))
            assert used <= set(variables) | BUILTINS, f"{panel['title']}: undefined {used - set(variables) - BUILTINS}"
