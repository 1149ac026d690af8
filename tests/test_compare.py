"""Comparing runs: what differs, each run's primary series, the table, the DataFrames (pure);
then ``client.compare`` against the in-process server."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.kernel import frames
from submarine_jupyter.kernel.client import Experiment, Metrics, MetricSeries, SubmarineClient
from submarine_jupyter.kernel.compare import Comparison, command_options, primary, trial_columns
from tests.kernel_helpers import job_spec


def experiment(seq: int, name: str, cmd: str, env: dict[str, str] | None = None, **changes: Any) -> Experiment:
    meta: dict[str, Any] = {"name": name, "framework": "PyTorch", "cmd": cmd}
    if env is not None:
        meta["envVars"] = env
    data: dict[str, Any] = {
        "experimentId": f"experiment_17_{seq:04d}", "name": name, "uid": "u", "status": "Succeeded",
        "acceptedTime": "2026-11-27T18:36:40+00:00", "createdTime": "2026-11-27T18:36:41+00:00",
        "runningTime": "2026-11-27T18:36:45+00:00", "finishedTime": "2026-11-27T18:37:50+00:00",
        "statusMessage": None, "replicas": [], "spec": {"meta": meta, "spec": {"Master": {"replicas": 1}}},
    }
    data.update(changes)
    return data  # type: ignore[return-value]


def series(seq: int, name: str, replica: str, values: list[float], source: str = "log") -> MetricSeries:
    return MetricSeries(  # type: ignore[typeddict-item]
        name=name, replica=f"experiment-17-{seq:04d}-{replica}", source=source,
        steps=[float(i) for i in range(len(values))], values=values, times=[1e9 + i for i in range(len(values))],
        count=len(values), last=values[-1], min=min(values), max=max(values), downsampled=False,
    )


def answer(seq: int, *found: MetricSeries) -> Metrics:
    return Metrics(experimentId=f"experiment_17_{seq:04d}", cursor=9, series=list(found))


@pytest.fixture
def runs() -> Comparison:
    first = experiment(1, "ddp-a", "python train.py --lr 0.1 --epochs 3", {"SEED": "1", "SAME": "x"})
    second = experiment(2, "ddp-b", "python train.py --lr=0.01 --epochs 3 --fast", {"SAME": "x"},
                        status="Failed", finishedTime="2026-11-27T18:36:55+00:00")
    return Comparison(
        experiments=[first, second],
        metrics={
            first["experimentId"]: answer(
                1, series(1, "loss", "worker-0", [9.0, 8.0]), series(1, "loss", "master-0", [1.0, 0.5, 0.7]),
                series(1, "loss", "master-0", [1.0, 0.4], "tensorboard"), series(1, "acc", "master-0", [0.5, 0.9]),
            ),
            second["experimentId"]: answer(2, series(2, "loss", "master-0", [2.0, 1.5])),
        },
        params={
            first["experimentId"]: [{"key": "lr", "value": "0.1", "replica": "experiment-17-0001-master-0"},
                                    {"key": "opt", "value": "sgd", "replica": "experiment-17-0001-master-0"}],
            second["experimentId"]: [{"key": "lr", "value": "0.01", "replica": "experiment-17-0002-worker-0"},
                                     {"key": "lr", "value": "0.02", "replica": "experiment-17-0002-master-0"},
                                     {"key": "opt", "value": "sgd", "replica": "experiment-17-0002-master-0"}],
        },
    )


def test_command_options() -> None:
    assert command_options("python t.py --lr 0.1 --fast --n=3 -k -1 -v") == (
        {"lr": "0.1", "fast": "true", "n": "3", "k": "-1", "v": "true"}, ["python", "t.py"]
    )
    assert command_options("cd '/a b' && python t.py 'unclosed") == (
        {}, ["cd", "'/a", "b'", "&&", "python", "t.py", "'unclosed"]
    )


def test_a_runs_series_is_its_first_replicas_first_source(runs: Comparison) -> None:
    found = runs.metrics["experiment_17_0001"]["series"]
    chosen = primary(found, "loss")
    assert chosen is not None and (chosen["replica"], chosen["source"]) == ("experiment-17-0001-master-0", "log")
    assert primary(found, "missing") is None


def test_rows_hold_what_differs_and_where_each_metric_ended(runs: Comparison) -> None:
    assert runs.rows() == [
        {"experimentId": "experiment_17_0001", "name": "ddp-a", "status": "Succeeded", "duration": 65.0,
         "env.SEED": "1", "arg.fast": None, "arg.lr": "0.1", "param.lr": "0.1",
         "acc.last": 0.9, "acc.min": 0.5, "acc.max": 0.9, "loss.last": 0.7, "loss.min": 0.5, "loss.max": 1.0},
        {"experimentId": "experiment_17_0002", "name": "ddp-b", "status": "Failed", "duration": 10.0,
         "env.SEED": None, "arg.fast": "true", "arg.lr": "0.01", "param.lr": "0.02",
         "acc.last": None, "acc.min": None, "acc.max": None, "loss.last": 1.5, "loss.min": 1.5, "loss.max": 2.0},
    ]
    assert runs.chart_metric() == "loss"
    one = Comparison(runs.experiments, runs.metrics, runs.params, metric="acc")
    assert [k for k in one.rows()[0] if "." in k and not k.startswith(("env", "arg", "param"))] == [
        "acc.last", "acc.min", "acc.max"
    ]
    assert one.chart_metric() == "acc"


def test_the_command_is_a_column_when_its_words_differ() -> None:
    a, b = experiment(1, "a", "python a.py --lr 1"), experiment(2, "b", "python b.py --lr 1")
    rows = Comparison([a, b], {}).rows()
    assert [row["cmd"] for row in rows] == ["python a.py --lr 1", "python b.py --lr 1"]
    assert "arg.lr" not in rows[0] and Comparison([a], {}).chart_metric() is None


def test_the_chart_overlays_each_runs_series(runs: Comparison) -> None:
    assert runs.chart_series("loss") == [
        {"key": "experiment_17_0001|loss|experiment-17-0001-master-0|log", "label": "ddp-a #0001",
         "steps": [0.0, 1.0, 2.0], "values": [1.0, 0.5, 0.7]},
        {"key": "experiment_17_0002|loss|experiment-17-0002-master-0|log", "label": "ddp-b #0002",
         "steps": [0.0, 1.0], "values": [2.0, 1.5]},
    ]
    worker_only = Comparison(runs.experiments[:1], {"experiment_17_0001": answer(1, series(1, "x", "worker-1", [1.0]))})
    assert [s["label"] for s in worker_only.chart_series("x")] == ["ddp-a #0001 · worker-1"]


def test_a_sweeps_trials_as_columns_and_legends(runs: Comparison) -> None:
    trials = [
        {"index": 1, "params": {"lr": "0.01"}, "experimentId": "experiment_17_0002", "status": "Failed",
         "objective": 1.5},
        {"index": 0, "params": {"lr": "0.1"}, "experimentId": "experiment_17_0001", "status": "Succeeded",
         "objective": 0.7},
        {"index": 2, "params": {"lr": "1"}, "experimentId": None, "status": "Waiting", "objective": None},
        {"index": 3, "params": {"lr": "2"}, "experimentId": "experiment_17_0009", "status": "Deleted", "objective": None},
    ]
    columns, labels = trial_columns({"name": "s", "template": "t", "status": "Running", "statusMessage": None,
                                     "parallel": 1, "objective": None, "trials": trials, "best": 1})  # type: ignore[typeddict-item]
    assert list(columns) == ["experiment_17_0002", "experiment_17_0001"]  # the sweep's order; none waiting or gone
    assert columns["experiment_17_0002"] == {"trial": 1, "trial.lr": "0.01", "objective": 1.5}
    assert labels == {"experiment_17_0002": "#1 lr=0.01", "experiment_17_0001": "#0 lr=0.1"}
    swept = Comparison(runs.experiments[::-1], runs.metrics, runs.params, columns=columns, labels=labels)
    rows = swept.rows()
    assert list(rows[0])[:7] == ["experimentId", "name", "status", "duration", "trial", "trial.lr", "objective"]
    assert [(r["trial"], r["objective"]) for r in rows] == [(1, 1.5), (0, 0.7)]
    assert [s["label"] for s in swept.chart_series("loss")] == ["#1 lr=0.01", "#0 lr=0.1"]


def test_the_table_as_html_and_text(runs: Comparison) -> None:
    table_html, text = runs.table()
    header, rule, first, second = text.splitlines()
    assert header.split()[:6] == ["experimentId", "name", "status", "duration", "env.SEED", "arg.fast"]
    assert set(rule) == {"-", " "}
    assert first.split()[:5] == ["experiment_17_0001", "ddp-a", "Succeeded", "0:01:05", "1"]
    assert second.split()[:6] == ["experiment_17_0002", "ddp-b", "Failed", "0:00:10", "true", "0.01"]
    assert ">Failed</span>" in table_html and "<th style=" in table_html
    assert Comparison([], {}).table() == ("<i>No experiments.</i>", "No experiments.")


def test_data_frames(runs: Comparison) -> None:
    pd = pytest.importorskip("pandas")
    frame = runs.frame()
    assert list(frame.index) == ["experiment_17_0001", "experiment_17_0002"]
    assert frame.loc["experiment_17_0002", "duration"] == pd.Timedelta(seconds=10)
    assert frame["loss.last"].tolist() == [0.7, 1.5]
    points = frames.metrics_frame(runs.metrics["experiment_17_0002"])
    assert list(points.columns) == ["name", "replica", "source", "step", "value", "time"]
    assert points.values[:, :5].tolist() == [["loss", "master-0", "log", 0.0, 2.0], ["loss", "master-0", "log", 1.0, 1.5]]
    assert str(points["time"].dt.tz) == "UTC" and points["time"][0].year == 2001
    logged = frames.params_frame("experiment_17_0002", runs.params["experiment_17_0002"])
    assert logged.values.tolist()[0] == ["lr", "0.01", "worker-0"]


def test_without_pandas_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r"DataFrames need pandas, which is not installed: pip install pandas"):
        frames.pandas()


# -- against the in-process server (local: the tracking SDK's file is a local one) -------

#: Prints its loss for three steps, and logs ``lr`` as Submarine's tracking SDK does (a row
#: of its ``param`` table in ``SUBMARINE_DB_URI``, written here without the SDK's imports).
TRAIN = """
import os, sqlite3, sys, time
lr = float(sys.argv[sys.argv.index("--lr") + 1])
db = sqlite3.connect(os.environ["SUBMARINE_DB_URI"].removeprefix("sqlite:///"))
db.execute("CREATE TABLE IF NOT EXISTS param (id TEXT, key TEXT, value TEXT, worker_index TEXT)")
db.execute("INSERT INTO param VALUES (?, 'lr', ?, 'master-0')", (os.environ["JOB_ID"], str(lr)))
db.commit()
for step in (1, 2, 3):
    print(f"step={step} loss={1 - lr * step:.2f}", flush=True)
"""


async def test_client_compare_by_ids_prefix_and_status(client: SubmarineClient, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    runs = []
    for name, lr in (("lr-big", "0.2"), ("lr-small", "0.1")):
        spec = job_spec(name, f"{sys.executable} {script} --lr {lr} --epochs 1", workers=0)
        spec["meta"]["envVars"] = {"LR": lr, "SAME": "1"}
        spec["spec"] = {"Master": spec["spec"]["Master"]}
        runs.append((await asyncio.to_thread(client.create, spec))["experimentId"])
    other = await asyncio.to_thread(client.create, job_spec("unrelated", "sleep 30"))
    for experiment_id in runs:
        await asyncio.to_thread(client.wait, experiment_id, 60)

    def compared() -> Any:
        deadline = time.monotonic() + 30
        while True:
            frame = client.compare(runs)
            if (frame["loss.last"].notna().all() and "param.lr" in frame) or time.monotonic() > deadline:
                return frame
            time.sleep(0.2)

    frame = await asyncio.to_thread(compared)
    assert list(frame.index) == runs
    assert list(frame.columns) == ["name", "status", "duration", "env.LR", "arg.lr", "param.lr",
                                   "loss.last", "loss.min", "loss.max"]
    assert frame.values[:, [0, 1, 3, 4, 5, 6, 7, 8]].tolist() == [
        ["lr-big", "Succeeded", "0.2", "0.2", "0.2", 0.4, 0.4, 0.8],
        ["lr-small", "Succeeded", "0.1", "0.1", "0.1", 0.7, 0.7, 0.9],
    ]
    assert frame["duration"].dt.total_seconds().gt(0).all()
    by_prefix = await asyncio.to_thread(client.compare, prefix="lr-", status="succeeded", metric="loss")
    assert list(by_prefix.index) == runs and by_prefix["loss.last"].tolist() == [0.4, 0.7]
    everything = await asyncio.to_thread(client.comparison)
    assert [e["experimentId"] for e in everything.experiments] == [*runs, other["experimentId"]]
    with pytest.raises(ValueError, match=r"no experiment to compare \(name lr-\*, Failed\)"):
        await asyncio.to_thread(client.compare, prefix="lr-", status="Failed")
