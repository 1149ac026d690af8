"""One REST contract on both backends: the same calls, statuses, logs and errors."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, experiment


@pytest.fixture(params=["local", "kubernetes"])
def submarine_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "local":
        return {"backend": "local"}
    cluster = request.getfixturevalue("kube_cluster_clean")
    return {"backend": "kubernetes", "k8s_kubeconfig": str(cluster.kubeconfig),
            "k8s_context": cluster.context, "k8s_backoff_limit": 0}


async def test_create_run_logs_patch_delete(api: Api) -> None:
    spec = experiment("echo hello-$RANK", framework="PyTorch", roles={"Master": 1, "Worker": 1})
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


async def test_failure_and_bad_input(api: Api) -> None:
    failed = await api.ok("POST", "api/v1/experiment", experiment("exit 3", framework="PyTorch", roles={"Master": 1}))
    done = await api.wait(failed["experimentId"], timeout=90)
    assert done["status"] == "Failed", done
    code, data = await api.call("POST", "api/v1/experiment", experiment("true", roles={"Worker": 0}))
    assert code == 400 and "spec.Worker.replicas" in data["message"]
