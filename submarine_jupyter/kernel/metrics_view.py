"""The widget's metrics: a live chart per chosen metric beside every series' latest values.

Reads are incremental: each answer's ``cursor`` goes back as ``since``, and only the new
points go to the charts (their ``append`` message). Choosing another metric, or a chart
holding more than ``limit`` points in a series, rereads everything once: the server's
downsampled series replace the charts' points (their ``reset`` message).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import ipywidgets as widgets

from ..wire.constants import replica_label, replica_sort_key
from ..wire.metrics import DEFAULT_MAX_POINTS
from . import render
from .charts import ChartSeries, MetricsChart, series_key
from .errors import SubmarineError
from .types import Metrics, MetricSeries

#: Metrics charted first when the caller chooses none (then the others, by name).
PREFERRED = ("loss", "acc", "accuracy")
AUTO_CHOSEN = 2
LATEST_HEADERS = ("METRIC", "REPLICA", "STEP", "LAST", "MIN", "MAX", "POINTS")


class Latest(TypedDict):
    """What the latest-values table shows for one series."""

    name: str
    pod: str
    replica: str
    step: float | None
    last: float | None
    min: float | None
    max: float | None
    count: int


class MetricsView(widgets.VBox):
    """``fetch(since=None, name=None)`` reads the experiment's metrics (``client.metrics``
    bound to it); ``chosen`` names the charted metrics (default: the first reported, see
    ``PREFERRED``)."""

    def __init__(
        self,
        experiment_id: str,
        fetch: Callable[..., Metrics],
        chosen: Sequence[str] | None = None,
        *,
        limit: int = 2 * DEFAULT_MAX_POINTS,
    ) -> None:
        self.experiment_id = experiment_id
        self.fetch = fetch
        self.limit = limit
        self.cursor: int | None = None
        #: Whether the server may still add points (the last answer's ``collecting``).
        self.collecting = True
        self.latest: dict[str, Latest] = {}
        self.charts: dict[str, MetricsChart] = {}
        self._auto = chosen is None
        self._lock = threading.RLock()
        self._choosing = False
        self.select = widgets.SelectMultiple(options=list(chosen or ()), value=list(chosen or ()),
                                             rows=3, description="Metrics:")
        self.chart_box = widgets.VBox(layout=widgets.Layout(flex="1 1 55%", min_width="320px"))
        self.values = widgets.HTML(layout=widgets.Layout(flex="0 1 auto", overflow="auto", margin="0 0 0 12px"))
        self.select.observe(self._on_select, names="value")
        super().__init__(
            children=[self.select, widgets.HBox([self.chart_box, self.values], layout=widgets.Layout(width="100%"))],
            layout=widgets.Layout(display="none"),
        )

    def refresh(self) -> None:
        """Read the points added since the last read and show them."""
        with self._lock:
            self.apply(self.fetch(since=self.cursor))
            if any(chart.longest() > self.limit for chart in self.charts.values()):
                self.resync()

    def resync(self) -> None:
        """Read every series again (downsampled by the server) and replace the charts' points."""
        with self._lock:
            self.cursor = None
            self.latest = {}
            self.apply(self.fetch(), reset=True)

    def apply(self, answer: Metrics, *, reset: bool = False) -> None:
        """Show an answer of the metrics API: its points in the charts of the chosen metrics,
        its summaries in the table; ``reset``: the answer holds every point."""
        with self._lock:
            self.cursor, self.collecting = answer["cursor"], answer["collecting"]
            by_name: dict[str, list[MetricSeries]] = {}
            for series in answer["series"]:
                by_name.setdefault(series["name"], []).append(series)
                self._note(series)
            self._offer(sorted(by_name))
            if self.latest:
                self.layout.display = "flex"
            for name in self.select.value:
                chart_series = [self._chart_series(s) for s in by_name.get(name, [])]
                chart = self.charts.get(name)
                if chart is None:
                    if name in by_name:
                        self.charts[name] = MetricsChart(chart_series, title=name, y_label=name, height=200)
                elif reset:
                    chart.reset(chart_series)
                else:
                    chart.append(chart_series)
            self._render()

    def _note(self, series: MetricSeries) -> None:
        key = series_key(series)
        held = self.latest.get(key)
        self.latest[key] = Latest(
            name=series["name"],
            pod=series["replica"],
            replica=replica_label(self.experiment_id, series["replica"])
            + ("" if series["source"] == "log" else f" ({series['source']})"),
            step=series["steps"][-1] if series["steps"] else (held["step"] if held else None),
            last=series["last"],
            min=_combine(min, series["min"], held["min"] if held else None),
            max=_combine(max, series["max"], held["max"] if held else None),
            count=series["count"],
        )

    def _offer(self, names: list[str]) -> None:
        """Add new metric names to the choice; choose some while the caller chose none (a
        metric first seen in an incremental answer has all its points in it)."""
        known = set(self.select.options)
        new = [n for n in names if n not in known]
        if not new:
            return
        chosen = list(self.select.value)
        if self._auto:
            ranked = sorted(new, key=lambda n: (PREFERRED.index(n) if n in PREFERRED else len(PREFERRED), n))
            chosen += ranked[: max(AUTO_CHOSEN - len(chosen), 0)]
        self._choosing = True
        try:
            self.select.options = sorted(known.union(new))
            self.select.value = tuple(chosen)
        finally:
            self._choosing = False
        self.select.rows = min(max(len(self.select.options), 2), 6)

    def _on_select(self, _change: Any) -> None:
        if self._choosing:
            return
        with self._lock:
            self._auto = False
            try:
                self.resync()
            except SubmarineError as error:
                self.values.value = render.pre_html(str(error), colour="#c62828")

    def _chart_series(self, series: MetricSeries) -> ChartSeries:
        return ChartSeries(
            key=series_key(series), label=f"{series['name']} · {self.latest[series_key(series)]['replica']}",
            steps=list(series["steps"]), values=list(series["values"]),
        )

    def _render(self) -> None:
        shown = [self.charts[name] for name in self.select.value if name in self.charts]
        if list(self.chart_box.children) != shown:
            self.chart_box.children = shown
        headers, rows = self.table()
        if rows:
            cells = [[html.escape(c) for c in row] for row in rows]
            self.values.value = render.html_table(headers, cells, render.COMPACT_CELL_STYLE)

    def table(self) -> tuple[Sequence[str], list[list[str]]]:
        """The latest-values table: a row per series, by metric then replica."""
        ordered = sorted(self.latest.items(), key=lambda item: (item[1]["name"], replica_sort_key(item[1]["pod"]), item[0]))
        rows = [
            [row["name"], row["replica"], _number(row["step"], "g"), _number(row["last"]), _number(row["min"]),
             _number(row["max"]), str(row["count"])]
            for _, row in ordered
        ]
        return LATEST_HEADERS, rows

    def summary(self) -> str:
        """The latest values as text (the fallback for front-ends without widgets)."""
        headers, rows = self.table()
        return render.text_table(headers, rows) if rows else ""


def _combine(pick: Callable[[list[float]], float], new: float | None, held: float | None) -> float | None:
    values = [v for v in (new, held) if v is not None]
    return pick(values) if values else None


def _number(value: float | None, spec: str = ".6g") -> str:
    return "" if value is None else format(value, spec)
