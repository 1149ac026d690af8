"""Several targets in one server: local and a Kubeflow Trainer v2 cluster side by side, a
local experiment promoted to the cluster (dry run first) and back, lists filtered by target,
``GET /api/v1/target``, and the local target untouched while the cluster's API server is away."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import Api, experiment


@pytest.fixture
def submarine_config(kube_cluster_clean: Any) -> dict[str, Any]:
    return {"SubmarineJupyter": {"targets": {"gpu": {
        "api": "trainer", "kubeconfig": str(kube_cluster_clean.kubeconfig), "context": kube_cluster_clean.context,
        "default_image": "python:3.11-slim", "reconnect_max": 1.0}}}}


def torch(cmd: str, **meta: Any) -> dict[str, Any]:
    spec = experiment(cmd, framework="PyTorch", roles={"Master": 1, "Worker": 1})
    spec["meta"].update(meta)
    return spec


def printing(folder: Path, text: str) -> str:
    """Every replica prints ``text``; the Master, whose end ends the job, waits until all have."""
    done = folder / uuid.uuid4().hex
    return (f"mkdir -p {done}; echo {text}; touch {done}/$RANK; if [ $RANK = 0 ]; then "
            f"until [ $(ls {done} | wc -l) -ge $WORLD_SIZE ]; do sleep 0.05; done; fi")


async def test_targets_are_listed_with_their_api_and_reachability(api: Api) -> None:
    targets = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}
    assert set(targets) == {"local", "gpu"}
    assert targets["local"]["default"] and targets["local"]["reachable"] and targets["local"]["capacity"]["cpu"] > 0
    assert (targets["gpu"]["backend"], targets["gpu"]["api"], targets["gpu"]["reachable"]) == (
        "kubernetes", "trainer", True)
    assert not targets["gpu"]["default"] and targets["gpu"]["namespace"] == "default"


async def test_experiments_run_on_both_targets_at_once_and_lists_filter_by_target(api: Api, tmp_path: Path) -> None:
    here = await api.ok("POST", "api/v1/experiment", torch(printing(tmp_path, "here-$RANK")))
    there = await api.ok("POST", "api/v1/experiment", torch(printing(tmp_path, "there-$RANK"), target="gpu"))
    assert (here["target"], there["target"]) == ("local", "gpu")
    for created, word in ((here, "here"), (there, "there")):
        done = await api.wait(created["experimentId"], timeout=90)
        assert done["status"] == "Succeeded", done
        logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
        assert sorted(p["podLog"] for p in logs["logContent"]) == [f"{word}-0\n", f"{word}-1\n"]
    on_gpu = await api.ok("GET", "api/v1/experiment", params={"target": "gpu"})
    assert [e["experimentId"] for e in on_gpu] == [there["experimentId"]]
    code, data = await api.call("POST", "api/v1/experiment", torch("true", target="nowhere"))
    assert code == 400 and data["message"] == "meta.target: this server has no target 'nowhere' (its targets: local, gpu)"
    code, data = await api.call("PATCH", f"api/v1/experiment/{here['experimentId']}", torch("true", target="gpu"))
    assert code == 400 and data["message"].startswith("meta.target: cannot move an experiment to another target")


async def test_promote_shows_the_trainjob_first_then_runs_it_on_the_cluster_and_back(api: Api, tmp_path: Path) -> None:
    local = await api.ok("POST", "api/v1/experiment", torch(printing(tmp_path, "rank=$RANK of $WORLD_SIZE")))
    assert (await api.wait(local["experimentId"], timeout=60))["status"] == "Succeeded"
    rerun = f"api/v1/experiment/{local['experimentId']}/rerun"
    changes = {"meta": {"target": "gpu", "cmd": printing(tmp_path, "rank=$RANK of $WORLD_SIZE")},
               "spec": {"Worker": {"replicas": 2}}}
    plan = await api.ok("POST", rerun, changes, params={"dryRun": "true"})
    assert (plan["backend"], plan["target"]) == ("kubernetes", "gpu")
    manifest = plan["plan"]["manifest"]
    assert (manifest["kind"], manifest["spec"]["trainer"]["numNodes"]) == ("TrainJob", 3)
    assert len(await api.ok("GET", "api/v1/experiment")) == 1  # a dry run stores nothing
    promoted = await api.ok("POST", rerun, changes)
    assert (promoted["target"], promoted["rerunOf"]) == ("gpu", local["experimentId"])
    assert (await api.wait(promoted["experimentId"], timeout=90))["status"] == "Succeeded"
    logs = await api.ok("GET", f"api/v1/experiment/logs/{promoted['experimentId']}")
    assert sorted(p["podLog"] for p in logs["logContent"]) == [f"rank={r} of 3\n" for r in range(3)]
    back = await api.ok("POST", f"api/v1/experiment/{promoted['experimentId']}/rerun", {"meta": {"target": "local"}})
    assert back["target"] == "local" and (await api.wait(back["experimentId"], timeout=60))["status"] == "Succeeded"
    again = await api.ok("POST", f"api/v1/experiment/{promoted['experimentId']}/rerun")
    assert again["target"] == "gpu"  # a re-run stays where it ran


async def test_what_the_cluster_needs_is_refused_naming_it(api: Api) -> None:
    spec = torch("true")
    del spec["environment"]
    local = await api.ok("POST", "api/v1/experiment", spec)
    await api.wait(local["experimentId"], timeout=60)
    code, data = await api.call("POST", f"api/v1/experiment/{local['experimentId']}/rerun",
                                {"meta": {"target": "gpu", "framework": "TensorFlow"}, "spec": {
                                    "Master": None, "Worker": {"replicas": 1}}}, params={"dryRun": "true"})
    assert code == 400 and data["message"].startswith("meta.framework: TensorFlow cannot run on a Kubeflow trainer")
    code, data = await api.call("POST", f"api/v1/experiment/{local['experimentId']}/rerun",
                                {"meta": {"target": "gpu", "namespace": "elsewhere"}}, params={"dryRun": "true"})
    assert code == 403 and "namespace 'elsewhere' is not allowed" in data["message"]


async def test_local_runs_on_while_the_cluster_is_away(api: Api, kube_cluster_clean: Any) -> None:
    kube_cluster_clean.stop_apiserver()
    targets = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}
    assert targets["local"]["reachable"] and not targets["gpu"]["reachable"], targets
    assert targets["gpu"]["message"]
    code, _ = await api.call("POST", "api/v1/experiment", torch("true", target="gpu"))
    assert code == 503
    here = await api.ok("POST", "api/v1/experiment", torch("echo still"))
    assert (await api.wait(here["experimentId"], timeout=60))["status"] == "Succeeded"
    await asyncio.to_thread(kube_cluster_clean.start_apiserver)
    there = await api.ok("POST", "api/v1/experiment", torch("echo back", target="gpu"))
    assert (await api.wait(there["experimentId"], timeout=90))["status"] == "Succeeded"
    assert (await api.ok("GET", "api/v1/target"))[1]["reachable"]
