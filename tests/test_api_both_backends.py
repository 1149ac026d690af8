"""One REST contract on every backend (local, training-operator v1, Kubeflow Trainer v2): the
same calls, statuses, logs and errors."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import THREE_BACKENDS, Api, experiment


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


@THREE_BACKENDS
async def test_create_run_logs_patch_delete(api: Api, tmp_path: Path) -> None:
    # the Master ends the job when it completes (the operator's rule), stopping the Worker:
    # it waits until the Worker has printed, so both lines are there whatever the load
    printed = tmp_path / "worker-printed"
    cmd = f"echo hello-$RANK; if [ $RANK = 0 ]; then until [ -e {printed} ]; do sleep 0.05; done; else touch {printed}; fi"
    spec = experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    done = await api.wait(experiment_id, timeout=90)
    assert done["status"] == "Succeeded", done
    prefix = experiment_id.replace("_", "-")
    logs = await api.ok("GET", f"api/v1/experiment/logs/{experiment_id}")
    by_pod = {p["podName"]: p["podLog"] for p in logs["logContent"]}
    assert by_pod[f"{prefix}-master-0"] == "hello-0\n"
    assert by_pod[f"{prefix}-worker-0"] == "hello-1\n"
    assert await api.ok("PATCH", f"api/v1/experiment/{experiment_id}", spec) == spec
    assert (await api.ok("DELETE", f"api/v1/experiment/{experiment_id}"))["status"] == "Deleted"
    code, data = await api.call("GET", f"api/v1/experiment/{experiment_id}")
    assert (code, data["message"]) == (404, "Not found experiment.")


@THREE_BACKENDS
async def test_failure_and_bad_input(api: Api) -> None:
    failed = await api.ok("POST", "api/v1/experiment", experiment("exit 3", framework="PyTorch", roles={"Master": 1}))
    done = await api.wait(failed["experimentId"], timeout=90)
    assert done["status"] == "Failed", done
    code, data = await api.call("POST", "api/v1/experiment", experiment("true", roles={"Worker": 0}))
    assert code == 400 and "spec.Worker.replicas" in data["message"]


@THREE_BACKENDS
async def test_delete_of_a_running_experiment_answers_with_stopped_replicas(api: Api) -> None:
    created = await api.ok("POST", "api/v1/experiment", experiment("sleep 60", framework="PyTorch", roles={"Master": 1, "Worker": 1}))
    experiment_id = created["experimentId"]
    running = await api.wait(experiment_id, ("Running",), timeout=90)
    assert {r["state"] for r in running["replicas"]} <= {"Pending", "Running"}, running
    deleted = await api.ok("DELETE", f"api/v1/experiment/{experiment_id}")
    assert deleted["status"] == "Deleted"
    assert [r["state"] for r in deleted["replicas"]] == ["Stopped", "Stopped"], deleted
    code, _ = await api.call("GET", f"api/v1/experiment/{experiment_id}")
    assert code == 404


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("backend_config", ["kubernetes"], indirect=True)
async def test_kubernetes_times_are_the_job_conditions(api: Api, kube_cluster_clean: Any) -> None:
    posted = await api.ok("POST", "api/v1/experiment", experiment("sleep 1", framework="PyTorch", roles={"Master": 1}))
    done = await api.wait(posted["experimentId"], timeout=90)
    assert done["status"] == "Succeeded", done
    job = await asyncio.to_thread(
        kube_cluster_clean.custom_objects().get_namespaced_custom_object,
        "kubeflow.org", "v1", "default", "pytorchjobs", posted["experimentId"].replace("_", "-"))
    began = {c["type"]: utc(c["lastTransitionTime"]) for c in job["status"]["conditions"]}
    # condition times have whole seconds; a time is never before the one before it
    created = max(began["Created"], utc(done["acceptedTime"]))
    running = max(began["Running"], created)
    assert [utc(done[key]) for key in ("createdTime", "runningTime", "finishedTime")] == [
        created, running, max(began["Succeeded"], running)]


@pytest.mark.parametrize("backend_config", ["trainer"], indirect=True)
async def test_a_running_trainjob_refuses_a_change_it_would_never_apply(api: Api, kube_cluster_clean: Any) -> None:
    """Kubeflow Trainer builds a TrainJob's JobSet once (it is updated only while suspended), so
    a PATCH of a running one is a 409 that points to a re-run, and changes nothing."""
    spec = experiment("sleep 60", framework="PyTorch", roles={"Master": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    await api.wait(experiment_id, statuses=("Running",), timeout=60)
    bigger = {**spec, "spec": {"Master": {"replicas": 1}, "Worker": {"replicas": 2}}}
    code, data = await api.call("PATCH", f"api/v1/experiment/{experiment_id}", bigger)
    assert code == 409 and f"POST /api/v1/experiment/{experiment_id}/rerun" in data["message"], data
    assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["spec"]["spec"] == spec["spec"]
    trainjob = kube_cluster_clean.custom_objects().get_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", "default", "trainjobs", experiment_id.replace("_", "-"))
    assert trainjob["spec"]["trainer"]["numNodes"] == 1
    await api.ok("DELETE", f"api/v1/experiment/{experiment_id}")
