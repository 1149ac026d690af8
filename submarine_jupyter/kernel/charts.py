"""``MetricsChart``: line charts of metric series, drawn by the panel's front-end module.

The ``series`` trait is the initial data only; new points go to the front end as custom
messages, so an update costs its new points, never the whole arrays:

- Python -> JS ``{"type": "append", "series": [{"key", "label", "steps", "values"}]}`` adds
  points to the series with that key (a new key is a new series);
  ``{"type": "reset", "series": [...]}`` replaces every series;
- JS -> Python ``{"type": "resync"}`` (a front-end model made from state that may be stale,
  e.g. after a page reload) is answered with a ``reset`` holding every point.

The front-end model keeps the points it received in its own ``series`` attribute, so a saved
notebook's widget state holds the chart. This side keeps its copy for resyncs; the owner
bounds it (``longest``) by resetting to the server's downsampled series.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

import ipywidgets as widgets
from traitlets import Dict, Int, List, Unicode

from .render import TextFallback
from .types import MetricSeries

MODULE = "submarine-jupyter"
MODULE_VERSION = "^0.1.0"


class ChartSeries(TypedDict):
    """One line: a unique ``key`` (e.g. ``loss|<pod>|log``), its legend text and its points."""

    key: str
    label: str
    steps: list[float]
    values: list[float]


def series_key(series: MetricSeries) -> str:
    """A series' key in a chart: ``name|replica|source``."""
    return f"{series['name']}|{series['replica']}|{series['source']}"


class MetricsChart(TextFallback, widgets.DOMWidget):
    """A chart of one or more series against their steps."""

    _model_name = Unicode("MetricsChartModel").tag(sync=True)
    _view_name = Unicode("MetricsChartView").tag(sync=True)
    _model_module = Unicode(MODULE).tag(sync=True)
    _view_module = Unicode(MODULE).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    title = Unicode("").tag(sync=True)
    x_label = Unicode("step").tag(sync=True)
    y_label = Unicode("").tag(sync=True)
    height = Int(240).tag(sync=True)
    series = List(Dict()).tag(sync=True)

    def __init__(self, series: Sequence[ChartSeries] = (), **kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, ChartSeries] = {}
        _merge(self._points, series)
        super().__init__(series=[_copy(s) for s in series], **kwargs)
        self.on_msg(self._on_message)

    def append(self, series: Iterable[ChartSeries]) -> None:
        """Add points (series with no points are left out); only they go to the front end."""
        new = [_copy(s) for s in series if s["steps"] or s["key"] not in self._points]
        if not new:
            return
        with self._lock:
            _merge(self._points, new)
            self.send({"type": "append", "series": new})

    def reset(self, series: Iterable[ChartSeries]) -> None:
        """Replace every series (e.g. by a downsampled copy)."""
        with self._lock:
            self._points = {}
            _merge(self._points, series)
            self.send({"type": "reset", "series": self._snapshot()})

    def points(self) -> list[ChartSeries]:
        """Every series with every point this side holds (what a resync sends)."""
        with self._lock:
            return self._snapshot()

    def longest(self) -> int:
        """The number of points of the longest series."""
        with self._lock:
            return max((len(s["steps"]) for s in self._points.values()), default=0)

    def _snapshot(self) -> list[ChartSeries]:
        return [_copy(s) for s in self._points.values()]

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "resync":
            with self._lock:
                self.send({"type": "reset", "series": self._snapshot()})

    def summary(self) -> str:
        """The chart as text (the fallback for front-ends without widgets)."""
        return summary(self.title, self.points(), self.x_label)


def summary(title: str, series: Sequence[ChartSeries], x_label: str = "step") -> str:
    """A line per series: its label, points, and newest value, under the title."""
    lines = [title] if title else []
    for s in series:
        newest = f", last {s['values'][-1]:.6g} at {x_label} {s['steps'][-1]:g}" if s["values"] else ""
        lines.append(f"  {s['label']}: {len(s['steps'])} points{newest}")
    return "\n".join(lines) if lines else "(no points yet)"


def _copy(series: ChartSeries) -> ChartSeries:
    return ChartSeries(
        key=series["key"], label=series["label"], steps=list(series["steps"]), values=list(series["values"])
    )


def _merge(into: dict[str, ChartSeries], series: Iterable[ChartSeries]) -> None:
    for s in series:
        held = into.setdefault(s["key"], ChartSeries(key=s["key"], label=s["label"], steps=[], values=[]))
        held["label"] = s["label"]
        held["steps"].extend(s["steps"])
        held["values"].extend(s["values"])
