"""One machine shared fairly: FIFO queue on cpu/memory/gpu, GPU isolation, restarts, success rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Api, experiment
from .procs import new_marker, pids_with


def with_resources(spec: dict[str, Any], resources: str) -> dict[str, Any]:
    for role in spec["spec"].values():
        role["resources"] = resources
    return spec


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"LocalBackend": {"cpu_capacity": 2, "memory_capacity": "4Gi", "gpus": ["0", "1", "2"], "max_restarts": 2}}


async def test_queue_waits_for_capacity_then_starts(api: Api) -> None:
    big = await api.ok("POST", "api/v1/experiment", with_resources(experiment("sleep 2", name="big"), "cpu=2"))
    await api.wait(big["experimentId"], ("Running",))
    small = await api.ok("POST", "api/v1/experiment", with_resources(experiment("echo small", name="small"), "cpu=1"))
    waiting = await api.ok("GET", f"api/v1/experiment/{small['experimentId']}")
    assert waiting["status"] == "Accepted"
    assert waiting["statusMessage"] == "Waiting for resources: cpu 1 > 0 free"
    done = await api.wait(small["experimentId"])
    first = await api.ok("GET", f"api/v1/experiment/{big['experimentId']}")
    assert done["status"] == first["status"] == "Succeeded"
    assert done["createdTime"] >= first["finishedTime"]


async def test_fifo_no_overtaking(api: Api) -> None:
    hog = await api.ok("POST", "api/v1/experiment", with_resources(experiment("sleep 2", name="hog"), "cpu=1.5"))
    await api.wait(hog["experimentId"], ("Running",))
    head = await api.ok("POST", "api/v1/experiment", with_resources(experiment("true", name="head"), "cpu=1"))
    tail = await api.ok("POST", "api/v1/experiment", with_resources(experiment("true", name="tail"), "cpu=0.5"))
    await asyncio.sleep(0.5)
    # tail would fit in the 0.5 free cpu, but head came first
    assert (await api.ok("GET", f"api/v1/experiment/{tail['experimentId']}"))["status"] == "Accepted"
    head_done, tail_done = await api.wait(head["experimentId"]), await api.wait(tail["experimentId"])
    assert head_done["createdTime"] <= tail_done["createdTime"]


@pytest.mark.parametrize(("resources", "why"), [
    ("cpu=3", "cpu 3 > 2"),
    ("memory=5Gi", "memory 5.0Gi > 4.0Gi"),
    ("gpu=4", "gpu 4 > 3"),
])
async def test_never_fits_is_refused_at_create(api: Api, resources: str, why: str) -> None:
    code, data = await api.call("POST", "api/v1/experiment", with_resources(experiment("true"), resources))
    assert code == 422
    assert why in data["message"] and "more than this machine can ever give" in data["message"]
    assert await api.ok("GET", "api/v1/experiment") == []


async def test_gpus_are_never_shared(api: Api) -> None:
    cmd = 'echo "gpus=[$CUDA_VISIBLE_DEVICES]"; sleep 30'
    a = with_resources(experiment(cmd, name="a"), "cpu=0.1,gpu=2")
    b = experiment(cmd, name="b", roles={"Ps": 1, "Worker": 1})
    b["spec"]["Ps"]["resources"] = "cpu=0.1"
    b["spec"]["Worker"]["resources"] = "cpu=0.1,nvidia.com/gpu=1"
    c = with_resources(experiment(cmd, name="c"), "cpu=0.1,gpu=1")
    ids = []
    for spec in (a, b):
        created = await api.ok("POST", "api/v1/experiment", spec)
        await api.wait(created["experimentId"], ("Running",))
        ids.append(created["experimentId"])
    waiting = await api.ok("POST", "api/v1/experiment", c)
    ids.append(waiting["experimentId"])

    async def gpus(experiment_id: str, role: str) -> str:
        pod = f"{experiment_id.replace('_', '-')}-{role}-0"
        for _ in range(100):
            text = await api.log_of(experiment_id, pod)
            if text:
                return text.strip()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{pod} printed nothing")

    assert await gpus(ids[0], "worker") == "gpus=[0,1]"
    assert await gpus(ids[1], "worker") == "gpus=[2]"
    assert await gpus(ids[1], "ps") == "gpus=[]"
    assert (await api.ok("GET", f"api/v1/experiment/{ids[2]}"))["statusMessage"] == "Waiting for resources: gpu 1 > 0 free"
    await api.ok("DELETE", f"api/v1/experiment/{ids[0]}")
    await api.wait(ids[2], ("Running",))
    assert await gpus(ids[2], "worker") in ("gpus=[0]", "gpus=[1]")


async def test_replica_restarts_within_the_limit(api: Api) -> None:
    cmd = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge 3 ]"
    created = await api.ok("POST", "api/v1/experiment", experiment(cmd))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done
    assert done["replicas"][0]["restarts"] == 2 and done["replicas"][0]["exitCode"] == 0
    worker = created["experimentId"].replace("_", "-") + "-worker-0"
    assert await api.log_of(created["experimentId"], worker) == "attempt 1\nattempt 2\nattempt 3\n"


async def test_replica_failing_beyond_the_limit_fails_the_experiment(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("echo try; exit 5"))
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Failed"
    assert done["replicas"][0]["restarts"] == 2
    assert "failed with exit code 5" in done["statusMessage"] and "try" in done["statusMessage"]


async def test_success_stops_ps_still_running(api: Api) -> None:
    marker = new_marker()
    spec = experiment("unused", roles={"Ps": 1, "Worker": 1}, env={"SUBMARINE_TEST_MARKER": marker})
    spec["spec"]["Ps"]["cmd"] = "sleep 600"
    spec["spec"]["Worker"]["cmd"] = "sleep 1; echo worker done"
    created = await api.ok("POST", "api/v1/experiment", spec)
    done = await api.wait(created["experimentId"])
    assert done["status"] == "Succeeded", done
    assert [(r["role"], r["state"]) for r in done["replicas"]] == [("Ps", "Stopped"), ("Worker", "Succeeded")]
    assert "worker-0 completed" in done["statusMessage"]
    assert pids_with(marker) == []


async def test_master_decides_for_pytorch(api: Api) -> None:
    spec = experiment("unused", framework="PyTorch", roles={"Master": 1, "Worker": 1})
    spec["spec"]["Master"]["cmd"] = "true"
    spec["spec"]["Worker"]["cmd"] = "sleep 600"
    done = await api.wait((await api.ok("POST", "api/v1/experiment", spec))["experimentId"])
    assert done["status"] == "Succeeded"
    assert [(r["role"], r["state"]) for r in done["replicas"]] == [("Master", "Succeeded"), ("Worker", "Stopped")]


async def test_two_distributed_experiments_at_once_get_distinct_ports(api: Api) -> None:
    cmd = 'echo "$MASTER_PORT"; sleep 3'
    created = [
        await api.ok("POST", "api/v1/experiment", experiment(cmd, name=f"dist-{i}", framework="PyTorch", roles={"Master": 1, "Worker": 1}))
        for i in range(2)
    ]
    for item in created:
        await api.wait(item["experimentId"], ("Running",))
    ports = []
    for item in created:
        prefix = item["experimentId"].replace("_", "-")
        for _ in range(50):
            texts = [await api.log_of(item["experimentId"], f"{prefix}-{r}") for r in ("master-0", "worker-0")]
            if all(texts):
                break
            await asyncio.sleep(0.1)
        assert texts[0] == texts[1]
        ports.append(texts[0].strip())
    running = await api.ok("GET", "api/v1/experiment", params={"status": "Running"})
    assert len(running) == 2
    assert ports[0] != ports[1]
