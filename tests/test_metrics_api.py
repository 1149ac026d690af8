"""Metrics from what replicas print, through the API, on both backends: Katib's `name=value`,
JSON lines, custom filters, steps, incremental reads, downsampling, hostile output, delete."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.wire.requests import ExperimentSpec

from .conftest import Api, experiment

PY = sys.executable


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


def workers(cmd: str, count: int = 1, **extra: Any) -> dict[str, Any]:
    """A PyTorch spec of Workers only: it succeeds when every one has completed (none is stopped early)."""
    return experiment(cmd, name="metrics", framework="PyTorch", roles={"Worker": count}, **extra)


async def metrics(api: Api, experiment_id: str, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", f"api/v1/experiment/{experiment_id}/metrics", params=params or None)
    return result


def table(answer: dict[str, Any], short: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(name, replica without the experiment prefix) -> [(step, value), ...]."""
    return {(s["name"], s["replica"].removeprefix(short)): list(zip(s["steps"], s["values"], strict=True))
            for s in answer["series"]}


async def test_katib_and_json_lines_per_replica_with_steps(api: Api) -> None:
    cmd = ("echo 'epoch=1 loss=0.5 acc=0.7'; echo '{\"step\": 5, \"loss\": 0.25, \"lr\": 0.01, \"note\": \"x\"}';"
           " echo 'no metrics here'; echo 'loss = 0.125'; echo step=9")
    created = await api.ok("POST", "api/v1/experiment", workers(cmd, 2))
    experiment_id = created["experimentId"]
    assert (await api.wait(experiment_id, timeout=90))["status"] == "Succeeded"
    short = experiment_id.replace("_", "-") + "-"
    answer = await api.complete_metrics(experiment_id)  # the last batch may land just after the end
    assert answer["experimentId"] == experiment_id and answer["cursor"] > 0
    expected = {}
    for replica in ("worker-0", "worker-1"):
        # epoch gives the first step, JSON's step the second; the fourth line names none: the
        # third metric line of its replica; a line with only a step holds no metric
        expected |= {("acc", replica): [(1, 0.7)], ("loss", replica): [(1, 0.5), (5, 0.25), (3, 0.125)],
                     ("lr", replica): [(5, 0.01)]}
    assert table(answer, short) == expected
    assert [(s["name"], s["replica"]) for s in answer["series"]] == sorted((n, short + r) for n, r in expected)
    loss = next(s for s in answer["series"] if s["name"] == "loss")
    assert (loss["source"], loss["count"], loss["last"], loss["min"], loss["max"], loss["downsampled"]) == (
        "log", 3, 0.125, 0.125, 0.5, False)
    assert all(abs(t - time.time()) < 120 for t in loss["times"])
    # nothing newer than the cursor; a filter by name and by (short) replica name
    assert await metrics(api, experiment_id, since=answer["cursor"]) == {
        "experimentId": experiment_id, "cursor": answer["cursor"], "collecting": False, "series": []}
    only = await metrics(api, experiment_id, name="loss", replica="worker-1")
    assert table(only, short) == {("loss", "worker-1"): expected[("loss", "worker-1")]}
    assert await api.ok("GET", f"api/v1/experiment/{experiment_id}/params") == []


async def test_since_returns_only_newer_points(api: Api, tmp_path: Path) -> None:
    go = tmp_path / "go"
    cmd = f"echo step=1 loss=1; until [ -e {go} ]; do sleep 0.05; done; echo step=2 loss=0.5; echo step=3 loss=0.25"
    experiment_id = (await api.ok("POST", "api/v1/experiment", workers(cmd)))["experimentId"]
    deadline = time.monotonic() + 60
    while not (first := await metrics(api, experiment_id))["series"]:
        assert time.monotonic() < deadline, "no metric collected while the replica runs"
        await asyncio.sleep(0.1)
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Running"
    assert [(s["steps"], s["values"]) for s in first["series"]] == [([1], [1])]
    assert first["collecting"] is True
    go.touch()
    await api.wait(experiment_id, timeout=60)
    newer = await api.complete_metrics(experiment_id, since=str(first["cursor"]))
    (series,) = newer["series"]
    assert (series["steps"], series["values"], series["count"]) == ([2, 3], [0.5, 0.25], 3)
    assert newer["cursor"] > first["cursor"]
    assert (await metrics(api, experiment_id, since=newer["cursor"]))["series"] == []


async def test_max_points_keeps_first_newest_and_extremes(api: Api, work_dir: Path) -> None:
    script = "for i in range(1000):\n    print(f'loss={-5 if i == 333 else 50 if i == 666 else 1 + i % 7 / 10}')\n"
    (work_dir / "curve.py").write_text(script + "print('loss=0.42')\n")
    cmd = f"{PY} {work_dir / 'curve.py'}"
    experiment_id = (await api.ok("POST", "api/v1/experiment", workers(cmd)))["experimentId"]
    await api.wait(experiment_id, timeout=90)
    while not (answer := await metrics(api, experiment_id, maxPoints="10"))["series"] or \
            answer["series"][0]["count"] < 1001:
        await asyncio.sleep(0.1)
    (series,) = answer["series"]
    assert series["downsampled"] is True and len(series["values"]) == 10
    assert series["values"][0] == 1.0 and series["values"][-1] == 0.42 and series["steps"][-1] == 1001
    assert {-5.0, 50.0} <= set(series["values"]) and (series["min"], series["max"], series["last"]) == (-5, 50, 0.42)
    assert series["steps"] == sorted(series["steps"])
    whole = (await metrics(api, experiment_id, maxPoints="10000"))["series"][0]
    assert whole["downsampled"] is False and whole["steps"] == list(range(1, 1002))


async def test_bad_queries_name_their_field_and_unknown_ids_are_404(api: Api) -> None:
    experiment_id = (await api.ok("POST", "api/v1/experiment", workers("true")))["experimentId"]
    for params, field in (({"since": "abc"}, "since"), ({"since": "-1"}, "since"), ({"maxPoints": "1"}, "maxPoints"),
                          ({"maxPoints": "10001"}, "maxPoints"), ({"maxPoints": "x"}, "maxPoints")):
        code, data = await api.call("GET", f"api/v1/experiment/{experiment_id}/metrics", params=params)
        assert code == 400 and data["message"].startswith(f"{field}: "), (params, data)
    for route in ("metrics", "params"):
        code, data = await api.call("GET", f"api/v1/experiment/experiment_1_9999/{route}")
        assert (code, data["message"], data["success"]) == (404, "Not found experiment.", None)


async def test_collection_off_and_custom_filters(api: Api) -> None:
    off = workers("echo loss=1", metrics={"enabled": False})
    custom = workers("echo 'loss: 0.5 | acc: 0.9'; echo loss=7", metrics={"filters": [r"(\w+):\s*([0-9.]+)"]})
    ids = [(await api.ok("POST", "api/v1/experiment", spec))["experimentId"] for spec in (off, custom)]
    for experiment_id in ids:
        await api.wait(experiment_id, timeout=90)
    deadline = time.monotonic() + 30
    while len((found := await metrics(api, ids[1]))["series"]) < 2:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)
    assert [(s["name"], s["values"]) for s in found["series"]] == [("acc", [0.9]), ("loss", [0.5])]
    await asyncio.sleep(1)
    assert (await metrics(api, ids[0]))["series"] == []
    code, data = await api.call("POST", "api/v1/experiment", workers("true", metrics={"filters": ["(only-one)"]}))
    assert code == 400 and "metrics.filters" in data["message"], data


HOSTILE = """
import json, sys
out = sys.stdout
out.write("loss=nan step=nan\\nbig=1e999 inf=inf\\n")
out.write(json.dumps({"loss": float("nan"), "acc": float("inf"), "huge": 1e308, "flag": True}) + "\\n")
out.write('{"deep": ' * 100000 + '1' + '}' * 100000 + "\\n")
out.write("wide=1 " * 150000 + "\\n")
for i in range(10000):
    out.write(f"name{i:05d}=1\\n")
out.write("step=1 loss=0.5\\n")
"""


def finished(tmp_path: Path, experiment_id: str) -> bool:
    """Whether the experiment's metric collection has ended (everything read)."""
    with sqlite3.connect(tmp_path / "state" / "submarine.db") as conn:
        row = conn.execute("SELECT finished FROM metric_collections WHERE experiment_id = ?", (experiment_id,)).fetchone()
    return bool(row and row[0])


async def until_finished(tmp_path: Path, experiment_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not finished(tmp_path, experiment_id):
        assert time.monotonic() < deadline, "the collection did not finish"
        await asyncio.sleep(0.1)


async def test_hostile_output_is_skipped_or_bounded(api: Api, work_dir: Path, tmp_path: Path) -> None:
    (work_dir / "hostile.py").write_text(HOSTILE)
    experiment_id = (await api.ok("POST", "api/v1/experiment", workers(f"{PY} {work_dir / 'hostile.py'}")))["experimentId"]
    assert (await api.wait(experiment_id, timeout=120))["status"] == "Succeeded"
    await until_finished(tmp_path, experiment_id)
    answer = await metrics(api, experiment_id, maxPoints="2")
    names = {s["name"] for s in answer["series"]}
    # 1000 series at most (the default): "huge" (a finite float), then the first names; NaN, inf,
    # 1e999, booleans, and the 1 MB lines (nested JSON, 150,000 pairs) are left out
    assert len(names) == 1000 and "huge" in names and {"loss", "acc", "big", "inf", "flag", "deep", "wide"}.isdisjoint(names)
    assert sorted(names - {"huge"}) == [f"name{i:05d}" for i in range(999)]
    assert all(len(s["values"]) == 1 and s["values"][0] in (1.0, 1e308) for s in answer["series"])


async def test_delete_removes_the_metrics(api: Api, tmp_path: Path) -> None:
    experiment_id = (await api.ok("POST", "api/v1/experiment", workers("echo loss=1; sleep 30")))["experimentId"]
    while not (await metrics(api, experiment_id))["series"]:
        await asyncio.sleep(0.1)
    await api.ok("DELETE", f"api/v1/experiment/{experiment_id}")
    code, data = await api.call("GET", f"api/v1/experiment/{experiment_id}/metrics")
    assert (code, data["message"]) == (404, "Not found experiment.")
    with sqlite3.connect(tmp_path / "state" / "submarine.db") as conn:
        for table in ("metric_points", "metric_series", "metric_positions", "metric_collections"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


async def test_a_stopped_collection_resumes_counting_each_line_once(
        api: Api, jp_serverapp: Any, work_dir: Path, tmp_path: Path) -> None:
    """What a server restart does to a collection (locally by offsets; on Kubernetes by the
    lines counted in the container's log), many times while a replica prints."""
    (work_dir / "steady.py").write_text("import time\nfor i in range(1, 301):\n    print(f'loss={i}', flush=True)\n"
                                        "    time.sleep(0.01)\n")
    spec = workers(f"{PY} {work_dir / 'steady.py'}")
    experiment_id = (await api.ok("POST", "api/v1/experiment", spec))["experimentId"]
    service = jp_serverapp.web_app.settings["submarine"].metrics
    while (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] not in ("Succeeded", "Failed"):
        await asyncio.sleep(0.3)
        if await service.pause(experiment_id):
            service.start(experiment_id, ExperimentSpec.model_validate(spec))
    await until_finished(tmp_path, experiment_id, timeout=90)
    (series,) = (await metrics(api, experiment_id, maxPoints="10000"))["series"]
    assert series["steps"] == list(range(1, 301)) and series["values"] == list(range(1, 301))
