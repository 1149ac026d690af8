"""Sweeps: trials from a template, at most ``parallel`` at a time through the fair queue,
judged by their metrics, stoppable as a whole, surviving a restart."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Api
from .procs import new_marker, pids_with
from .servers import JupyterProcess

# loss = lr * batch / 10: the best trial of the grid below is lr=0.01, batch=32 (loss 0.032)
SCRIPT = "import sys, time\nlr, batch = float(sys.argv[1]), int(sys.argv[2])\ntime.sleep(float(sys.argv[3]))\n" \
         "print(f'step=1 loss={lr * batch / 10:.6g}')\n"


def template(work_dir: Path, seconds: str = "1") -> dict[str, Any]:
    (work_dir / "trial.py").write_text(SCRIPT)
    return {
        "name": "train", "parameters": [{"name": "lr", "value": "0.1"}, {"name": "batch", "value": "32"},
                                        {"name": "seconds", "value": seconds}],
        "experimentSpec": {
            "meta": {"name": "trial", "framework": "PyTorch", "envVars": {"SUBMARINE_TEST_MARKER": "{{marker}}"},
                     "cmd": f"{sys.executable} {work_dir / 'trial.py'} {{{{lr}}}} {{{{batch}}}} {{{{seconds}}}}"},
            "spec": {"Master": {"replicas": 1, "resources": "cpu=1"}},
        },
    }


def with_marker(spec: dict[str, Any], marker: str) -> dict[str, Any]:
    spec["parameters"].append({"name": "marker", "value": marker})
    return spec


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"LocalBackend": {"cpu_capacity": 2}}  # two trials fit at a time, no more


async def wait_sweep(api: Api, name: str, statuses: tuple[str, ...] = ("Succeeded", "Failed", "Stopped"),
                     timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (sweep := await api.ok("GET", f"api/v1/sweep/{name}"))["status"] not in statuses:
        assert time.monotonic() < deadline, sweep
        await asyncio.sleep(0.2)
    return sweep


async def test_a_grid_runs_in_waves_of_parallel_in_order_and_its_best_is_the_metrics(api: Api, work_dir: Path) -> None:
    await api.ok("POST", "api/v1/template", with_marker(template(work_dir), new_marker()))
    created = await api.ok("POST", "api/v1/sweep", {
        "name": "grid", "template": "train", "grid": {"lr": ["0.1", "0.01"], "batch": ["32", "64"]},
        "parallel": 2, "objective": {"metric": "loss", "goal": "min"}})
    assert created["status"] == "Running" and len(created["trials"]) == 4
    assert [t["status"] for t in sorted(created["trials"], key=lambda t: t["index"])][2:] == ["Waiting", "Waiting"]
    done = await wait_sweep(api, "grid")
    assert done["status"] == "Succeeded", done
    by_index = sorted(done["trials"], key=lambda t: t["index"])
    assert [t["params"] for t in by_index] == [
        {"lr": "0.1", "batch": "32"}, {"lr": "0.1", "batch": "64"}, {"lr": "0.01", "batch": "32"},
        {"lr": "0.01", "batch": "64"}]
    experiments = [await api.ok("GET", f"api/v1/experiment/{t['experimentId']}") for t in by_index]
    assert [e["sweep"] for e in experiments] == ["grid"] * 4 and {e["status"] for e in experiments} == {"Succeeded"}
    ids = [int(e["experimentId"].rsplit("_", 1)[1]) for e in experiments]
    assert ids == sorted(ids)  # submitted in order
    # never more than two ran at once: each trial of the second wave began after one of the first ended
    began = sorted(e["runningTime"] for e in experiments)
    ended = sorted(e["finishedTime"] for e in experiments)
    assert began[2] >= ended[0] and began[3] >= ended[1], (began, ended)
    # best first, by the metric each trial printed
    losses = {t["index"]: float(t["params"]["lr"]) * int(t["params"]["batch"]) / 10 for t in by_index}
    assert done["best"] == min(losses, key=losses.__getitem__) == 2
    assert [t["index"] for t in done["trials"]] == sorted(losses, key=losses.__getitem__)
    assert [t["objective"] for t in done["trials"]] == pytest.approx(sorted(losses.values()))
    assert [s["name"] for s in await api.ok("GET", "api/v1/sweep")] == ["grid"]


async def test_stopping_a_sweep_stops_running_and_waiting_trials(api: Api, work_dir: Path) -> None:
    marker = new_marker()
    await api.ok("POST", "api/v1/template", with_marker(template(work_dir, seconds="60"), marker))
    await api.ok("POST", "api/v1/sweep", {"name": "long", "template": "train", "grid": {"lr": ["1", "2", "3"]},
                                          "parallel": 2})
    deadline = time.monotonic() + 60
    while len(pids_with(marker)) < 2:
        assert time.monotonic() < deadline, "two trials never ran"
        await asyncio.sleep(0.2)
    stopped = await api.ok("POST", "api/v1/sweep/long/stop")
    assert stopped["status"] == "Stopped" and stopped["statusMessage"] == "stopped by the user"
    assert sorted(t["status"] for t in stopped["trials"]) == ["Stopped", "Stopped", "Stopped"]
    assert [t["experimentId"] is None for t in sorted(stopped["trials"], key=lambda t: t["index"])] == [False, False, True]
    assert pids_with(marker) == []
    await asyncio.sleep(1.5)  # nothing is started afterwards
    again = await api.ok("GET", "api/v1/sweep/long")
    assert again["status"] == "Stopped" and len(await api.ok("GET", "api/v1/experiment")) == 2


async def test_a_random_search_draws_from_its_distributions(api: Api, work_dir: Path) -> None:
    await api.ok("POST", "api/v1/template", with_marker(template(work_dir, seconds="0"), new_marker()))
    body = {"name": "random", "template": "train", "parallel": 3,
            "random": {"count": 3, "seed": 7, "params": {"lr": "loguniform(1e-4,1e-1)", "batch": "choice(16,32)"}}}
    created = await api.ok("POST", "api/v1/sweep", body)
    drawn = [t["params"] for t in sorted(created["trials"], key=lambda t: t["index"])]
    assert all(1e-4 <= float(p["lr"]) <= 1e-1 and p["batch"] in ("16", "32") for p in drawn), drawn
    assert (await wait_sweep(api, "random"))["status"] == "Succeeded"
    second = await api.ok("POST", "api/v1/sweep", {**body, "name": "random-again"})
    assert [t["params"] for t in sorted(second["trials"], key=lambda t: t["index"])] == drawn  # the same seed


REFUSED = [
    ({"name": "x", "template": "train", "grid": {"lr": ["1"]}, "random": {"count": 1, "params": {"lr": "uniform(0,1)"}}},
     400, "give either 'grid' or 'random'"),
    ({"name": "x", "template": "nope", "grid": {"lr": ["1"]}}, 404, "ExperimentTemplate not found."),
    ({"name": "x", "template": "train", "grid": {"learning_rate": ["1"]}}, 400,
     "Invalid sweep spec: Parameters contains illegal key: ['learning_rate']"),
    ({"name": "x", "template": "train", "random": {"count": 2, "params": {"lr": "uniform(1,0)"}}}, 400,
     "needs the first number no larger than the second"),
    ({"name": "Bad_Name", "template": "train", "grid": {"lr": ["1"]}}, 400, "name"),
]


@pytest.mark.parametrize(("body", "code", "message"), REFUSED, ids=["grid and random", "unknown template",
                                                                    "a parameter the template lacks",
                                                                    "empty range", "bad name"])
async def test_bad_sweeps_are_refused_before_any_trial_runs(api: Api, work_dir: Path, body: dict[str, Any],
                                                            code: int, message: str) -> None:
    await api.ok("POST", "api/v1/template", with_marker(template(work_dir), new_marker()))
    got, data = await api.call("POST", "api/v1/sweep", body)
    assert got == code and message in data["message"], data
    assert await api.ok("GET", "api/v1/sweep") == [] and await api.ok("GET", "api/v1/experiment") == []


def test_a_sweep_goes_on_after_a_restart(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = JupyterProcess(tmp_path, "--LocalBackend.cpu_capacity=1").start()
    try:
        server.ok("POST", "/api/v1/template", with_marker(template(work, seconds="2"), new_marker()))
        server.ok("POST", "/api/v1/sweep", {"name": "restart", "template": "train", "grid": {"lr": ["1", "2", "3"]},
                                            "parallel": 1})
    finally:
        server.stop()  # while the first trial runs
    again = JupyterProcess(tmp_path, "--LocalBackend.cpu_capacity=1").start()
    try:
        deadline = time.monotonic() + 120
        while (sweep := again.ok("GET", "/api/v1/sweep/restart"))["status"] == "Running":
            assert time.monotonic() < deadline, sweep
            time.sleep(0.3)
        assert sweep["status"] == "Succeeded", sweep
        assert all(t["status"] == "Succeeded" for t in sweep["trials"])
    finally:
        again.stop()


async def test_deleting_a_running_trial_lets_the_sweep_go_on(api: Api, work_dir: Path) -> None:
    marker = new_marker()
    await api.ok("POST", "api/v1/template", with_marker(template(work_dir, seconds="60"), marker))
    await api.ok("POST", "api/v1/sweep", {"name": "gone", "template": "train", "grid": {"lr": ["1", "2"]},
                                          "parallel": 1})
    deadline = time.monotonic() + 60
    while (first := (await api.ok("GET", "api/v1/sweep/gone"))["trials"][0])["status"] != "Running":
        assert time.monotonic() < deadline, first
        await asyncio.sleep(0.2)
    await api.ok("DELETE", f"api/v1/experiment/{first['experimentId']}")
    deadline = time.monotonic() + 60
    while not any(t["index"] == 1 and t["experimentId"] for t in (await api.ok("GET", "api/v1/sweep/gone"))["trials"]):
        assert time.monotonic() < deadline, "the next trial never started after the running one was deleted"
        await asyncio.sleep(0.2)
    await api.ok("POST", "api/v1/sweep/gone/stop")
