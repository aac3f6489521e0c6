"""Charts drawn on the server as SVG geometry, so that pages need no script and no chart library
(the console runs on private networks without internet). Each function returns plain numbers
and labels; templates/charts.html turns them into <svg> elements, escaping every label."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Bar",
    "BarChart",
    "BarGroup",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "GroupedBar",
    "GroupedChart",
    "LegendEntry",
    "LineChart",
    "Point",
    "bar_chart",
    "graph",
    "grouped_bar_chart",
    "line_chart",
]

ROW = 22  # pixels per bar
LABEL_WIDTH = 220
PLOT_WIDTH = 360


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    y: float
    width: float
    shown: str  # the value as printed beside the bar


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: tuple[Bar, ...]
    height: float
    hidden: int  # bars left out by ``top``
    label_width: float = LABEL_WIDTH
    plot_width: float = PLOT_WIDTH

    @property
    def width(self) -> float:
        return self.label_width + self.plot_width + 80


def bar_chart(values: Mapping[str, float], top: int | None = None) -> BarChart:
    """Horizontal bars, largest first (ties by label), widths relative to the largest absolute
    value; ``top`` keeps the first N."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    kept = ordered if top is None else ordered[:top]
    largest = max((abs(value) for _, value in kept), default=0.0) or 1.0
    bars = tuple(
        Bar(label, value, index * ROW, PLOT_WIDTH * abs(value) / largest, f"{value:.4g}")
        for index, (label, value) in enumerate(kept)
    )
    return BarChart(bars, len(bars) * ROW, len(ordered) - len(kept))


# Series colours, told apart by their number too (each bar and legend entry carries it), so a
# reader who does not see colour loses nothing.
PALETTE = ("#3b6fb6", "#d0782a", "#2f8a4c", "#9b3fa0", "#b3261e", "#2a8f9c", "#7a6a1c", "#5b6475")
GROUP_GAP = 14  # pixels between two metrics' groups
LEGEND_ROW = 20


@dataclass(frozen=True, slots=True)
class LegendEntry:
    number: int  # 1-based, printed on each of the series' bars
    label: str
    colour: str
    y: float


@dataclass(frozen=True, slots=True)
class GroupedBar:
    number: int
    label: str  # the series' label
    value: float
    y: float
    width: float
    shown: str
    colour: str


@dataclass(frozen=True, slots=True)
class BarGroup:
    label: str
    y: float
    bars: tuple[GroupedBar, ...]


@dataclass(frozen=True, slots=True)
class GroupedChart:
    legend: tuple[LegendEntry, ...]
    groups: tuple[BarGroup, ...]
    height: float
    label_width: float = LABEL_WIDTH
    plot_width: float = PLOT_WIDTH

    @property
    def width(self) -> float:
        return self.label_width + self.plot_width + 80


def grouped_bar_chart(series: Sequence[str], groups: Mapping[str, Sequence[float | None]]) -> GroupedChart:
    """Horizontal bars in groups: one group per key of ``groups`` (in its order), one bar per
    series with a value (None: none), all on one scale, the largest absolute value; a legend
    above names each series' colour and number."""
    legend = tuple(
        LegendEntry(number, label, PALETTE[(number - 1) % len(PALETTE)], (number - 1) * LEGEND_ROW)
        for number, label in enumerate(series, start=1)
    )
    numbers = [value for values in groups.values() for value in values if value is not None]
    largest = max((abs(value) for value in numbers), default=0.0) or 1.0
    y = len(legend) * LEGEND_ROW + GROUP_GAP
    built = []
    for label, values in groups.items():
        top, y = y, y + ROW  # the group's label takes a row of its own
        bars = []
        for entry, value in zip(legend, values, strict=True):
            if value is None:
                continue
            bars.append(
                GroupedBar(
                    entry.number, entry.label, value, y, PLOT_WIDTH * abs(value) / largest, f"{value:.4g}", entry.colour
                )
            )
            y += ROW
        built.append(BarGroup(label, top, tuple(bars)))
        y += GROUP_GAP
    return GroupedChart(legend, tuple(built), y)


NODE_WIDTH = 230
NODE_HEIGHT = 58
COLUMN_GAP = 70
ROW_GAP = 18
CHARACTER = 8  # pixels per character of a 13px bold label, generously


@dataclass(frozen=True, slots=True)
class GraphNode:
    reference: str
    stage: str
    status: str
    depth: int
    x: float
    y: float
    width: float = NODE_WIDTH
    height: float = NODE_HEIGHT


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    width: float
    height: float


def graph(nodes: Iterable[tuple[str, str, str, int]], edges: Iterable[tuple[str, str]]) -> Graph:
    """Boxes laid out by depth, left to right (a column per depth, references in order down
    it), and a line from the right side of each edge's source to the left side of its target.
    ``nodes`` are (reference, stage, status, depth); edges (source, target) between them."""
    columns: dict[int, list[tuple[str, str, str, int]]] = {}
    for node in sorted(nodes, key=lambda node: (node[3], node[0])):
        columns.setdefault(node[3], []).append(node)
    longest = max((len(node[0]) for column in columns.values() for node in column), default=0)
    box = max(NODE_WIDTH, CHARACTER * longest + 20)  # wide enough for the longest reference
    placed: dict[str, GraphNode] = {}
    for column, depth in enumerate(sorted(columns)):
        for row, (reference, stage, status, _) in enumerate(columns[depth]):
            x, y = 2 + column * (box + COLUMN_GAP), 2 + row * (NODE_HEIGHT + ROW_GAP)
            placed[reference] = GraphNode(reference, stage, status, depth, x, y, box)
    lines = tuple(
        GraphEdge(
            source,
            target,
            placed[source].x + box,
            placed[source].y + NODE_HEIGHT / 2,
            placed[target].x,
            placed[target].y + NODE_HEIGHT / 2,
        )
        for source, target in edges
        if source in placed and target in placed
    )
    width = len(columns) * (box + COLUMN_GAP) - COLUMN_GAP + 4
    height = max((len(column) for column in columns.values()), default=0) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP + 4
    return Graph(tuple(placed.values()), lines, max(width, 4), max(height, 4))


LINE_WIDTH = 480  # the plot area of a line chart, inside its margins
LINE_HEIGHT = 160
MARGIN = 48  # room for the axis labels on each side


@dataclass(frozen=True, slots=True)
class Point:
    x: float  # the value on the horizontal axis (a version number, a step, seconds)
    y: float
    left: float  # where it is drawn, in pixels
    top: float
    shown: str  # the value as printed in its tooltip


@dataclass(frozen=True, slots=True)
class LineChart:
    points: tuple[Point, ...]
    x_range: tuple[str, str]  # the first and last x, as printed under the axis
    y_range: tuple[str, str]  # the lowest and highest y, as printed beside it
    plot_width: float = LINE_WIDTH
    plot_height: float = LINE_HEIGHT
    margin: float = MARGIN

    @property
    def width(self) -> float:
        return self.plot_width + 2 * self.margin

    @property
    def height(self) -> float:
        return self.plot_height + 2 * self.margin

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the <polyline> joining the points."""
        return " ".join(f"{point.left:.1f},{point.top:.1f}" for point in self.points)


def line_chart(points: Sequence[tuple[float, float]]) -> LineChart:
    """Points (x, y) joined in order of x, scaled to fill the plot; a single x or y value is
    drawn in the middle of its axis."""
    ordered = sorted(points)
    xs, ys = [x for x, _ in ordered], [y for _, y in ordered]
    drawn = tuple(
        Point(
            x,
            y,
            MARGIN + _scale(x, xs, LINE_WIDTH),
            MARGIN + LINE_HEIGHT - _scale(y, ys, LINE_HEIGHT),
            f"{y:.4g}",
        )
        for x, y in ordered
    )
    x_range = (f"{xs[0]:g}", f"{xs[-1]:g}") if xs else ("", "")
    y_range = (f"{min(ys):.4g}", f"{max(ys):.4g}") if ys else ("", "")
    return LineChart(drawn, x_range, y_range)


def _scale(value: float, values: Sequence[float], length: float) -> float:
    low, high = min(values), max(values)
    return length / 2 if high == low else length * (value - low) / (high - low)
