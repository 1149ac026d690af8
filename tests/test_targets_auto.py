"""``api: auto``: a target asks its cluster's API groups which Kubeflow API to speak (Trainer
v2 where it serves both), and a target whose cluster has not answered yet says why and answers
503 for its own experiments only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.server.backends.kubernetes.apis import TRAINER, TRAINING_OPERATOR, discovered

from .conftest import Api, experiment

V1, V2 = "kubeflow.org", "trainer.kubeflow.org"


@pytest.mark.parametrize(("groups", "expected"), [
    ([V2, "jobset.x-k8s.io", "apps"], TRAINER),
    ([V1, "apps"], TRAINING_OPERATOR),
    ([V1, V2], TRAINER),
    (["apps", "batch"], None),
    ([], None),
])
def test_auto_prefers_trainer_v2_then_the_training_operator(groups: list[str], expected: Any) -> None:
    assert discovered(groups) is expected


CLOSED_PORT_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: away, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: away, user: {token: x}}]
contexts: [{name: away, context: {cluster: away, user: away}}]
current-context: away
"""


@pytest.fixture
def submarine_config(kube_cluster_clean: Any, tmp_path: Path) -> dict[str, Any]:
    closed = tmp_path / "closed.kubeconfig"
    closed.write_text(CLOSED_PORT_KUBECONFIG)
    return {"SubmarineJupyter": {"targets": {
        "cluster": {"api": "auto", "kubeconfig": str(kube_cluster_clean.kubeconfig),
                    "context": kube_cluster_clean.context, "default_image": "python:3.11-slim",
                    "reconnect_max": 1.0},
        "away": {"api": "auto", "kubeconfig": str(closed), "reconnect_max": 1.0},
    }}}


async def bound(api: Api, name: str, timeout: float = 30) -> dict[str, dict[str, Any]]:
    """The targets once ``name`` has been told its API by its cluster (discovery runs after start)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        targets = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}
        if targets[name]["api"] is not None or asyncio.get_running_loop().time() > deadline:
            return targets
        await asyncio.sleep(0.1)


async def test_auto_speaks_trainer_v2_where_the_cluster_serves_it(api: Api, kube_cluster_clean: Any) -> None:
    targets = await bound(api, "cluster")
    assert (targets["cluster"]["api"], targets["cluster"]["reachable"]) == ("trainer", True), targets
    spec = experiment("echo rank=$RANK", framework="PyTorch", roles={"Master": 1})
    spec["meta"]["target"] = "cluster"
    created = await api.ok("POST", "api/v1/experiment", spec)
    assert (await api.wait(created["experimentId"], timeout=90))["status"] == "Succeeded"
    custom = kube_cluster_clean.custom_objects()
    trainjobs = custom.list_namespaced_custom_object(V2, "v1alpha1", "default", "trainjobs")["items"]
    assert [t["metadata"]["name"] for t in trainjobs] == [created["experimentId"].replace("_", "-")]
    assert custom.list_namespaced_custom_object(V1, "v1", "default", "pytorchjobs")["items"] == []
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert [p["podLog"] for p in logs["logContent"]] == ["rank=0\n"]


async def test_an_auto_target_not_answering_says_why_and_refuses_only_its_own(api: Api) -> None:
    away = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}["away"]
    assert not away["reachable"] and away["api"] is None, away
    assert away["message"], away
    spec = experiment("true", framework="PyTorch", roles={"Master": 1})
    spec["meta"]["target"] = "away"
    code, data = await api.call("POST", "api/v1/experiment", spec)
    assert code == 503 and "does not know yet which Kubeflow API" in data["message"], data
    here = await api.ok("POST", "api/v1/experiment", experiment("echo fine"))
    assert (await api.wait(here["experimentId"], timeout=60))["status"] == "Succeeded"


@pytest.fixture
def cluster_away_at_start(kube_cluster_clean: Any) -> Any:
    """The test cluster's API server stopped before Jupyter starts (ask for it before ``api``)."""
    kube_cluster_clean.stop_apiserver()
    return kube_cluster_clean


async def test_auto_binds_once_the_cluster_answers_after_start(cluster_away_at_start: Any, api: Api) -> None:
    cluster = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}["cluster"]
    assert not cluster["reachable"] and cluster["api"] is None, cluster
    spec = experiment("echo late", framework="PyTorch", roles={"Master": 1})
    spec["meta"]["target"] = "cluster"
    code, _ = await api.call("POST", "api/v1/experiment", spec)
    assert code == 503
    await asyncio.to_thread(cluster_away_at_start.start_apiserver)
    assert (await bound(api, "cluster"))["cluster"]["api"] == "trainer"
    created = await api.ok("POST", "api/v1/experiment", spec)
    assert (await api.wait(created["experimentId"], timeout=90))["status"] == "Succeeded"
