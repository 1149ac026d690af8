"""Logs of the local backend: tail, one replica, follow while running, dry run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .conftest import Api, experiment


async def test_tail_and_pod_name(api: Api) -> None:
    spec = experiment("for i in $(seq 1 500); do echo line-$i; done", roles={"Ps": 1, "Worker": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    prefix = experiment_id.replace("_", "-")
    tail = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"tailLines": "3"})
    assert [p["podLog"] for p in tail["logContent"]] == ["line-498\nline-499\nline-500\n"] * 2
    one = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"podName": f"{prefix}-ps-0", "tailLines": "1"})
    assert one["logContent"] == [{"podName": f"{prefix}-ps-0", "podLog": "line-500\n"}]
    whole = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}", params={"podName": f"{prefix}-worker-0"})
    assert whole["logContent"][0]["podLog"].splitlines() == [f"line-{i}" for i in range(1, 501)]


async def test_follow_delivers_lines_while_the_replica_runs(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("echo first; sleep 3; echo second"))
    experiment_id = created["experimentId"]
    seen: dict[str, float] = {}

    def on_line(item: dict[str, str]) -> None:
        seen.setdefault(item["line"], time.monotonic())

    follow = asyncio.ensure_future(api.follow(experiment_id, on_line))
    while "first" not in seen:
        assert not follow.done(), follow.result()
        await asyncio.sleep(0.05)
    status = (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"]
    assert status == "Running" and "second" not in seen
    lines = await follow
    worker = experiment_id.replace("_", "-") + "-worker-0"
    assert lines == [{"podName": worker, "line": "first"}, {"podName": worker, "line": "second"}]
    assert seen["second"] - seen["first"] > 2
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Succeeded"


async def test_follow_of_a_finished_experiment_with_tail(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("seq 1 10; printf no-newline"))
    await api.wait(created["experimentId"])
    lines = await api.follow(created["experimentId"], tailLines="3")
    assert [item["line"] for item in lines] == ["9", "10", "no-newline"]


async def test_dry_run_returns_the_plan_and_runs_nothing(api: Api) -> None:
    spec = experiment("python train.py", framework="PyTorch", roles={"Master": 1, "Worker": 1}, env={"ENV_1": "x"})
    plan = await api.ok("POST", "api/v1/experiment", spec, params={"dryRun": "true"})
    assert plan["dryRun"] is True and plan["backend"] == "local"
    replicas = plan["plan"]["replicas"]
    assert [r["role"] for r in replicas] == ["Master", "Worker"]
    for replica in replicas:
        assert replica["command"] == ["sh", "-c", "python train.py"]
        assert replica["env"]["ENV_1"] == "x"
        assert replica["env"]["WORLD_SIZE"] == "2"
        assert replica["workingDir"] == plan["plan"]["workingDir"]
    assert [r["env"]["RANK"] for r in replicas] == ["0", "1"]
    assert await api.ok("GET", "api/v1/experiment") == []


async def test_large_log_follow_streams_everything(api: Api) -> Any:
    created = await api.ok("POST", "api/v1/experiment", experiment("seq 1 50000"))
    lines = await api.follow(created["experimentId"])
    assert [item["line"] for item in lines] == [str(i) for i in range(1, 50001)]
