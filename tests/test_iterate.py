"""Iterating: stop without losing the run, re-run with changes, PATCH after the end."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ALL_BACKENDS, Api, experiment
from .procs import new_marker, pids_with
from .servers import JupyterProcess


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


def running_job(marker: str, cmd: str = "echo step=1 loss=0.5; echo started; sleep 60") -> dict[str, Any]:
    return experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 1}, env={"SUBMARINE_TEST_MARKER": marker})


async def pods_of(api: Api, jp_serverapp: Any, experiment_id: str) -> list[str]:
    """What is left running: the replicas' processes locally, the job's pods on Kubernetes."""
    backend = jp_serverapp.web_app.settings["submarine"].experiments.backend.default_backend
    if backend.name == "local":
        return []
    found = await backend.jobs.lookup(experiment_id)
    pods = await backend._logs.pods(found) if found is not None else {}
    return sorted(pods)


async def test_stop_keeps_the_record_logs_and_metrics_and_nothing_runs(api: Api, jp_serverapp: Any) -> None:
    marker = new_marker()
    created = await api.ok("POST", "api/v1/experiment", running_job(marker))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id, ("Running",), timeout=90)
    deadline = time.monotonic() + 60
    while "started" not in await api.log_of(experiment_id, experiment_id.replace("_", "-") + "-worker-0"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    stopped = await api.ok("POST", f"api/v1/experiment/{experiment_id}/stop")
    assert stopped["status"] == "Stopped" and stopped["finishedTime"], stopped
    assert {r["state"] for r in stopped["replicas"]} == {"Stopped"}, stopped["replicas"]
    assert "stopped by the user" in stopped["statusMessage"]
    assert await pods_of(api, jp_serverapp, experiment_id) == []
    if jp_serverapp.web_app.settings["submarine"].experiments.backend.default_backend.name == "kubernetes":
        # a cluster ends a deleted pod's containers after the answer (its grace period), so does the stand-in
        deadline = time.monotonic() + 30
        while pids_with(marker) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    assert pids_with(marker) == []
    # kept: the record (it lists and reads back), its logs and its metrics
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Stopped"
    assert [e["experimentId"] for e in await api.ok("GET", "api/v1/experiment", params={"status": "stopped"})] == [
        experiment_id]
    logs = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}")
    assert all("started" in p["podLog"] for p in logs["logContent"]), logs
    followed = await api.follow(experiment_id)
    assert sum(item["line"] == "started" for item in followed) == 2
    metrics = await api.complete_metrics(experiment_id)
    assert {(s["name"], s["values"][0]) for s in metrics["series"]} == {("loss", 0.5)}
    # a stop of what has ended is refused, and changes nothing
    code, data = await api.call("POST", f"api/v1/experiment/{experiment_id}/stop")
    assert (code, data["message"]) == (409, f"{experiment_id} has already ended (Stopped): there is nothing to stop")
    # DELETE keeps Submarine's meaning
    assert (await api.ok("DELETE", f"api/v1/experiment/{experiment_id}"))["status"] == "Deleted"
    assert (await api.call("GET", f"api/v1/experiment/{experiment_id}"))[0] == 404


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # its roles differ in resources, which a TrainJob cannot hold
async def test_rerun_with_changes_records_its_origin_both_ways(api: Api) -> None:
    first = await api.ok("POST", "api/v1/experiment", experiment(
        "echo lr=$LR", framework="PyTorch", roles={"Master": 1}, env={"LR": "0.1"}))
    await api.wait(first["experimentId"], timeout=90)
    changes = {"meta": {"envVars": {"LR": "0.01"}}, "spec": {"Worker": {"replicas": 1, "resources": "cpu=0.1"}}}
    again = await api.ok("POST", f"api/v1/experiment/{first['experimentId']}/rerun", changes)
    assert again["rerunOf"] == first["experimentId"] and again["experimentId"] != first["experimentId"]
    assert again["spec"]["meta"]["envVars"] == {"LR": "0.01"}
    assert again["spec"]["spec"]["Worker"] == {"replicas": 1, "resources": "cpu=0.1"}
    assert again["spec"]["spec"]["Master"] == first["spec"]["spec"]["Master"]
    assert (await api.ok("GET", f"api/v1/experiment/{first['experimentId']}"))["reruns"] == [again["experimentId"]]
    done = await api.wait(again["experimentId"], timeout=90)
    assert done["status"] == "Succeeded", done
    assert "lr=0.01" in await api.log_of(again["experimentId"], again["experimentId"].replace("_", "-") + "-master-0")
    # without changes: the same spec; bad changes: refused, nothing created
    same = await api.ok("POST", f"api/v1/experiment/{first['experimentId']}/rerun")
    assert same["spec"] == first["spec"]
    code, data = await api.call("POST", f"api/v1/experiment/{first['experimentId']}/rerun",
                                {"spec": {"Worker": {"replicas": 0}}})
    assert code == 400 and "spec.Worker.replicas" in data["message"], data
    code, data = await api.call("POST", "api/v1/experiment/experiment_1_0001/rerun")
    assert (code, data["message"]) == (404, "Not found experiment.")


async def test_patch_after_the_end_is_recorded_not_run_and_a_rerun_runs_it(api: Api) -> None:
    spec = experiment("echo ran", framework="PyTorch", roles={"Master": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    await api.wait(created["experimentId"], timeout=90)
    patched = experiment("echo patched", framework="PyTorch", roles={"Master": 1, "Worker": 2})
    assert await api.ok("PATCH", f"api/v1/experiment/{created['experimentId']}", patched) == patched
    got = await api.ok("GET", f"api/v1/experiment/{created['experimentId']}")
    assert got["status"] == "Succeeded" and got["spec"] == spec and got["pendingSpec"] == patched
    again = await api.ok("POST", f"api/v1/experiment/{created['experimentId']}/rerun")
    assert again["spec"] == patched and again["pendingSpec"] is None


def test_lineage_and_stops_survive_a_restart(tmp_path: Path) -> None:
    server = JupyterProcess(tmp_path).start()
    try:
        first = server.ok("POST", "/api/v1/experiment", experiment("sleep 60", name="first"))
        second = server.ok("POST", f"/api/v1/experiment/{first['experimentId']}/rerun", {"meta": {"name": "second"}})
        server.ok("POST", f"/api/v1/experiment/{first['experimentId']}/stop")
        server.ok("POST", f"/api/v1/experiment/{second['experimentId']}/stop")
    finally:
        server.stop()
    again = JupyterProcess(tmp_path).start()
    try:
        listed = {e["name"]: e for e in again.ok("GET", "/api/v1/experiment")}
        assert listed["first"]["reruns"] == [second["experimentId"]] and listed["first"]["status"] == "Stopped"
        assert listed["second"]["rerunOf"] == first["experimentId"] and listed["second"]["status"] == "Stopped"
    finally:
        again.stop()
