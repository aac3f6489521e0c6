"""Charts drawn on the server as SVG geometry, so that pages need no script and no chart library
(the console runs on private networks without internet). Each function returns plain numbers
and labels; templates/charts.html turns them into <svg> elements, escaping every label."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Bar", "BarChart", "bar_chart"]

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
