"""Every replica's environment, as a script sees it, on all three backends: the
training-operator's contract (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``)
everywhere, and Trainer v2's plugin variables (``PET_*``, ``DMLC_*``) with v2's meaning
where v2 defines them (local and Trainer v2), so one script runs unchanged on each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import THREE_BACKENDS, Api, experiment

ROLES = {"Master": 1, "Worker": 2}
#: replica -> its node rank: the Master is node 0, Worker i is node i + 1 (torch and xgboost alike)
RANKS = {"master-0": "0", "worker-0": "1", "worker-1": "2"}


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


async def replica_envs(api: Api, framework: str, folder: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """(backend name, replica suffix -> its environment) of a Master + 2 Workers job printing
    ``env``; the Master, whose end ends the job and stops the others, waits until all have."""
    done_dir = folder / "printed"
    cmd = (f"env; mkdir -p {done_dir}; touch {done_dir}/$RANK; if [ $RANK = 0 ]; then "
           f"until [ $(ls {done_dir} | wc -l) -ge 3 ]; do sleep 0.05; done; fi")
    created = await api.ok("POST", "api/v1/experiment", experiment(cmd, framework=framework, roles=ROLES))
    done = await api.wait(created["experimentId"], timeout=120)
    logs = await api.ok("GET", f"api/v1/experiment/logs/{created['experimentId']}")
    assert done["status"] == "Succeeded", f"{done}\n{logs}"
    prefix = created["experimentId"].replace("_", "-") + "-"
    envs = {pod["podName"].removeprefix(prefix): dict(line.split("=", 1) for line in pod["podLog"].splitlines()
                                                      if "=" in line) for pod in logs["logContent"]}
    assert envs.keys() == RANKS.keys()
    return done["target"], envs


@THREE_BACKENDS
@pytest.mark.parametrize("framework", ["PyTorch", "XGBoost"])
async def test_every_replica_sees_the_v1_contract(api: Api, framework: str, tmp_path: Path) -> None:
    _, envs = await replica_envs(api, framework, tmp_path)
    masters = {(env["MASTER_ADDR"], env["MASTER_PORT"]) for env in envs.values()}
    assert len(masters) == 1 and all(masters.pop()), envs  # one rendezvous, named
    for replica, env in envs.items():
        assert (env["RANK"], env["WORLD_SIZE"]) == (RANKS[replica], "3"), (replica, env)
        assert env["PYTHONUNBUFFERED"], (replica, env)  # any value makes Python unbuffered; v1 sets "0" or "1"


@pytest.mark.parametrize("backend_config", ["local", "trainer"], indirect=True)
async def test_torch_replicas_see_the_torch_plugin_variables(api: Api, tmp_path: Path) -> None:
    _, envs = await replica_envs(api, "PyTorch", tmp_path)
    for replica, env in envs.items():
        assert {k: env.get(k) for k in ("PET_NNODES", "PET_NODE_RANK", "PET_NPROC_PER_NODE")} == {
            "PET_NNODES": "3", "PET_NODE_RANK": RANKS[replica], "PET_NPROC_PER_NODE": "1"}, (replica, env)
    assert len({(env["PET_MASTER_ADDR"], env["PET_MASTER_PORT"]) for env in envs.values()}) == 1


@pytest.mark.parametrize("backend_config", ["local", "trainer"], indirect=True)
async def test_xgboost_replicas_see_the_xgboost_plugin_variables(api: Api, tmp_path: Path) -> None:
    _, envs = await replica_envs(api, "XGBoost", tmp_path)
    for replica, env in envs.items():
        assert (env.get("DMLC_TASK_ID"), env.get("DMLC_NUM_WORKER")) == (RANKS[replica], "3"), (replica, env)
    assert len({(env["DMLC_TRACKER_URI"], env["DMLC_TRACKER_PORT"]) for env in envs.values()}) == 1
