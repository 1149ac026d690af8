"""The chart widget and the widget's metrics view, without a browser: their state, and the
messages their comm sends (recorded by a comm that keeps what it publishes)."""

from __future__ import annotations

import asyncio
from typing import Any

import comm
import pytest
from comm import DummyComm
from IPython.lib.pretty import pretty

from submarine_jupyter.kernel.charts import ChartSeries, MetricsChart
from submarine_jupyter.kernel.client import Metrics, MetricSeries, SubmarineClient
from submarine_jupyter.kernel.metrics_view import MetricsView
from submarine_jupyter.kernel.render import COMPACT_CELL_STYLE
from submarine_jupyter.kernel.widgets import ExperimentWidget
from tests.kernel_helpers import job_spec, poll_until

EXP_ID = "experiment_1764268605123_0007"
PREFIX = "experiment-1764268605123-0007"


class RecordingComm(DummyComm):
    """A comm that keeps every message it would send to the front end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.sent.append((msg_type, data or {}))

    def custom(self) -> list[dict[str, Any]]:
        return [data["content"] for kind, data in self.sent if kind == "comm_msg" and data["method"] == "custom"]

    def updates(self) -> list[dict[str, Any]]:
        return [data["state"] for kind, data in self.sent if kind == "comm_msg" and data["method"] == "update"]


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> list[RecordingComm]:
    """Every widget made in the test gets a recording comm; the list holds them in order."""
    made: list[RecordingComm] = []

    def create(*args: Any, **kwargs: Any) -> RecordingComm:
        made.append(RecordingComm(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(comm, "create_comm", create)
    return made


def series(key: str, steps: list[float], values: list[float], label: str = "") -> ChartSeries:
    return ChartSeries(key=key, label=label or key, steps=steps, values=values)


def comm_of(chart: MetricsChart) -> RecordingComm:
    assert isinstance(chart.comm, RecordingComm)
    return chart.comm


def from_front_end(chart: MetricsChart, content: dict[str, Any]) -> None:
    chart._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


# -- the chart widget ------------------------------------------------------------------


def test_the_chart_models_contract(comms: list[RecordingComm]) -> None:
    chart = MetricsChart([series("loss|p|log", [1, 2], [0.5, 0.4], "loss · master-0")], title="loss")
    [(kind, opened)] = comm_of(chart).sent
    state = opened["state"]
    assert kind == "comm_open" and {k: state[k] for k in (
        "_model_name", "_view_name", "_model_module", "_view_module", "_model_module_version",
        "_view_module_version", "title", "x_label", "y_label", "height", "series")} == {
        "_model_name": "MetricsChartModel", "_view_name": "MetricsChartView",
        "_model_module": "submarine-jupyter", "_view_module": "submarine-jupyter",
        "_model_module_version": "^0.1.0", "_view_module_version": "^0.1.0",
        "title": "loss", "x_label": "step", "y_label": "", "height": 240,
        "series": [{"key": "loss|p|log", "label": "loss · master-0", "steps": [1, 2], "values": [0.5, 0.4]}],
    }


def test_new_points_go_as_an_append_message_never_as_whole_arrays(comms: list[RecordingComm]) -> None:
    chart = MetricsChart([series("a", [1, 2], [10, 20])])
    chart.append([series("a", [3], [30]), series("b", [1], [5]), series("c", [], [])])
    chart.append([series("a", [], [])])  # nothing new: nothing sent
    assert comm_of(chart).custom() == [{"type": "append", "series": [
        {"key": "a", "label": "a", "steps": [3], "values": [30]},
        {"key": "b", "label": "b", "steps": [1], "values": [5]},
        {"key": "c", "label": "c", "steps": [], "values": []},
    ]}]
    assert comm_of(chart).updates() == []  # the synced `series` stays the initial data
    assert chart.series == [{"key": "a", "label": "a", "steps": [1, 2], "values": [10, 20]}]
    assert chart.points() == [series("a", [1, 2, 3], [10, 20, 30]), series("b", [1], [5]), series("c", [], [])]
    assert chart.longest() == 3


def test_a_resync_is_answered_with_every_point_and_reset_replaces_them(comms: list[RecordingComm]) -> None:
    chart = MetricsChart([series("a", [1], [10])])
    chart.append([series("a", [2], [20])])
    from_front_end(chart, {"type": "resync"})
    from_front_end(chart, {"type": "something else"})  # ignored
    assert comm_of(chart).custom()[-1] == {"type": "reset", "series": [series("a", [1, 2], [10, 20])]}
    chart.reset([series("a", [1, 2], [10, 20]), series("b", [2], [7])])
    assert comm_of(chart).custom()[-1] == {"type": "reset", "series": [series("a", [1, 2], [10, 20]),
                                                                       series("b", [2], [7])]}
    assert len(comm_of(chart).custom()) == 3


def test_the_charts_text_fallback() -> None:
    chart = MetricsChart([series("a", [1, 2], [0.5, 0.25], "loss · master-0"), series("b", [], [], "loss · w")],
                         title="loss")
    assert pretty(chart) == "loss\n  loss · master-0: 2 points, last 0.25 at step 2\n  loss · w: 0 points"
    assert chart._repr_mimebundle_()["text/plain"] == pretty(chart)
    assert pretty(MetricsChart()) == "(no points yet)"


# -- the metrics view, against a stand-in of the metrics API -----------------------------


class MetricsApi:
    """Answers ``GET metrics`` as the API does: every point added after ``since`` (points
    are numbered as they are added), series by name and replica, a cursor."""

    def __init__(self) -> None:
        self.points: list[tuple[int, str, str, str, float, float]] = []  # seq, name, replica, source, step, value
        self.calls: list[dict[str, Any]] = []

    def add(self, name: str, replica: str, step: float, value: float, source: str = "log") -> None:
        self.points.append((len(self.points) + 1, name, f"{PREFIX}-{replica}", source, step, value))

    def __call__(self, since: int | None = None, name: str | None = None) -> Metrics:
        self.calls.append({"since": since, "name": name})
        grouped: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
        every: dict[tuple[str, str, str], list[float]] = {}
        for seq, n, replica, source, step, value in self.points:
            every.setdefault((n, replica, source), []).append(value)
            if (since is None or seq > since) and name in (None, n):
                grouped.setdefault((n, replica, source), []).append((step, value))
        answer = [
            MetricSeries(name=n, replica=replica, source=source,  # type: ignore[typeddict-item]
                         steps=[p[0] for p in points], values=[p[1] for p in points], times=[0.0] * len(points),
                         count=len(every[(n, replica, source)]), last=points[-1][1],
                         min=min(every[(n, replica, source)]), max=max(every[(n, replica, source)]),
                         downsampled=False)
            for (n, replica, source), points in grouped.items()
        ]
        return Metrics(experimentId=EXP_ID, cursor=len(self.points), collecting=True, series=answer)


def test_the_view_charts_the_first_metrics_and_sends_only_new_points(comms: list[RecordingComm]) -> None:
    api = MetricsApi()
    view = MetricsView(EXP_ID, api)
    view.refresh()
    assert view.layout.display == "none" and view.charts == {}
    for step in (1, 2):
        api.add("acc", "master-0", step, 0.5 + step / 10)
        api.add("loss", "master-0", step, 1 / step)
        api.add("loss", "worker-0", step, 2 / step)
        api.add("zeta", "master-0", step, step)
    view.refresh()
    assert view.layout.display == "flex"
    assert view.select.options == ("acc", "loss", "zeta") and view.select.value == ("loss", "acc")
    assert [c.title for c in view.chart_box.children] == ["loss", "acc"]
    loss = view.charts["loss"]
    assert loss.series == [
        {"key": f"loss|{PREFIX}-master-0|log", "label": "loss · master-0", "steps": [1, 2], "values": [1.0, 0.5]},
        {"key": f"loss|{PREFIX}-worker-0|log", "label": "loss · worker-0", "steps": [1, 2], "values": [2.0, 1.0]},
    ]
    api.add("loss", "worker-0", 3, 0.6)
    api.add("loss", "master-0", 3, 0.3, source="tensorboard")
    view.refresh()
    assert api.calls[-1] == {"since": 8, "name": None}
    assert comm_of(loss).custom() == [{"type": "append", "series": [
        {"key": f"loss|{PREFIX}-worker-0|log", "label": "loss · worker-0", "steps": [3], "values": [0.6]},
        {"key": f"loss|{PREFIX}-master-0|tensorboard", "label": "loss · master-0 (tensorboard)",
         "steps": [3], "values": [0.3]},
    ]}]
    assert comm_of(view.charts["acc"]).custom() == []
    assert [s["values"] for s in loss.points()] == [[1.0, 0.5], [2.0, 1.0, 0.6], [0.3]]  # equal to the API's
    assert [s["values"] for s in loss.points()] == [s["values"] for s in api(name="loss")["series"]]
    assert view.summary().splitlines()[2:5] == [
        "acc     master-0                2     0.7   0.6  0.7  2",
        "loss    master-0                2     0.5   0.5  1    2",
        "loss    master-0 (tensorboard)  3     0.3   0.3  0.3  1",
    ]
    assert f"<td style='{COMPACT_CELL_STYLE}'>worker-0</td>" in view.values.value


def test_the_view_shows_once_a_metric_is_reported(comms: list[RecordingComm]) -> None:
    api = MetricsApi()
    view = MetricsView(EXP_ID, api, ["loss"])
    view.refresh()
    assert view.layout.display == "none" and view.select.options == ("loss",)
    api.add("loss", "master-0", 1, 1.0)
    view.refresh()
    assert view.layout.display == "flex" and view.select.options == ("loss",) and list(view.charts) == ["loss"]


def test_choosing_a_metric_rereads_everything_once(comms: list[RecordingComm]) -> None:
    api = MetricsApi()
    for step in (1, 2, 3):
        api.add("loss", "master-0", step, 1 / step)
        api.add("lr", "master-0", step, 0.1)
    view = MetricsView(EXP_ID, api, ["loss"])
    view.refresh()
    assert list(view.charts) == ["loss"] and view.select.value == ("loss",)
    assert view.layout.display == "flex"
    view.select.value = ("loss", "lr")  # the reader adds one
    assert api.calls[-1] == {"since": None, "name": None}
    assert [c.title for c in view.chart_box.children] == ["loss", "lr"]
    assert view.charts["lr"].points()[0]["values"] == [0.1, 0.1, 0.1]
    assert comm_of(view.charts["loss"]).custom()[-1]["type"] == "reset"
    api.add("lr", "master-0", 4, 0.05)
    view.refresh()
    assert api.calls[-1] == {"since": 6, "name": None} and view.charts["lr"].longest() == 4
    view.select.value = ("lr",)
    assert [c.title for c in view.chart_box.children] == ["lr"]


def test_a_chart_over_its_bound_is_replaced_by_the_servers_series(comms: list[RecordingComm]) -> None:
    api = MetricsApi()
    view = MetricsView(EXP_ID, api, ["loss"], limit=5)
    for step in range(4):
        api.add("loss", "master-0", step, step)
    view.refresh()
    for step in range(4, 7):
        api.add("loss", "master-0", step, step)
    view.refresh()  # 7 points held > 5: reread (a real server would downsample them)
    assert api.calls[-2:] == [{"since": 4, "name": None}, {"since": None, "name": None}]
    assert comm_of(view.charts["loss"]).custom()[-1]["type"] == "reset"


# -- live, against the in-process server -------------------------------------------------


def received(chart: MetricsChart) -> dict[str, tuple[list[float], list[float]]]:
    """Every point the front end got: the chart's initial state, then its messages."""
    sent = comm_of(chart).sent
    held: dict[str, tuple[list[float], list[float]]] = {}
    messages = [{"type": "append", "series": sent[0][1]["state"]["series"]}, *comm_of(chart).custom()]
    for message in messages:
        if message["type"] == "reset":
            held = {}
        for s in message["series"]:
            steps, values = held.setdefault(s["key"], ([], []))
            steps.extend(s["steps"])
            values.extend(s["values"])
    return held


async def test_live_charts_equal_the_apis_series_and_get_only_new_points(
    client: SubmarineClient, comms: list[RecordingComm]
) -> None:
    cmd = 'for i in 1 2 3 4 5 6 7 8; do echo "step=$i loss=$((100 - i * (RANK + 1)))"; sleep 0.3; done'
    created = await asyncio.to_thread(client.create, job_spec("curves", cmd))
    w = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    try:
        await poll_until(lambda: not w.polling)
        chart = w.metrics.charts["loss"]
        api = await asyncio.to_thread(client.metrics, created["experimentId"], name="loss")
        expected = {f"loss|{s['replica']}|log": (s["steps"], s["values"]) for s in api["series"]}
        assert [len(steps) for steps, _ in expected.values()] == [8, 8]
        assert {s["key"]: (s["steps"], s["values"]) for s in chart.points()} == expected
        assert received(chart) == expected  # each point sent once
        appends = [m for m in comm_of(chart).custom() if m["type"] == "append"]
        assert len(appends) >= 2 and all(m["type"] == "append" for m in comm_of(chart).custom())
        assert not [state for state in comm_of(chart).updates() if "series" in state]
        assert "loss" in w.metrics.values.value and "master-0" in w.summary()
    finally:
        w.close()
