"""The training-operator's environment contract, field by field (pure module)."""

from __future__ import annotations

import json

import pytest

from submarine_jupyter.server.backends.local.operator_env import replica_env

PORTS = {"Chief": [2000], "Master": [2100], "Ps": [2200, 2201], "Worker": [2300, 2301, 2302], "Evaluator": [2400]}


def test_tf_config_ps_and_two_workers() -> None:
    roles = {"Ps": 1, "Worker": 2}
    configs = {
        (role, i): json.loads(replica_env("tensorflow", roles, role, i, PORTS)["TF_CONFIG"])
        for role, i in (("Ps", 0), ("Worker", 0), ("Worker", 1))
    }
    for (role, index), config in configs.items():
        assert set(config) == {"cluster", "task", "environment"}
        assert config["cluster"] == {"ps": ["127.0.0.1:2200"], "worker": ["127.0.0.1:2300", "127.0.0.1:2301"]}
        assert config["task"] == {"type": role.lower(), "index": index}
        assert config["environment"] == "cloud"


def test_tf_single_replica_has_no_tf_config() -> None:
    assert replica_env("tensorflow", {"Worker": 1}, "Worker", 0, PORTS) == {}


def test_tf_evaluator_is_not_in_the_cluster_but_has_a_task() -> None:
    roles = {"Chief": 1, "Worker": 1, "Evaluator": 1}
    config = json.loads(replica_env("tensorflow", roles, "Evaluator", 0, PORTS)["TF_CONFIG"])
    assert config["cluster"] == {"chief": ["127.0.0.1:2000"], "worker": ["127.0.0.1:2300"]}
    assert config["task"] == {"type": "evaluator", "index": 0}


@pytest.mark.parametrize(("role", "index", "rank"), [("Master", 0, "0"), ("Worker", 0, "1"), ("Worker", 2, "3")])
def test_pytorch_master_and_workers(role: str, index: int, rank: str) -> None:
    env = replica_env("pytorch", {"Master": 1, "Worker": 3}, role, index, PORTS)
    assert env == {
        "PYTHONUNBUFFERED": "1",
        "MASTER_ADDR": "127.0.0.1", "PET_MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "2100", "PET_MASTER_PORT": "2100",
        "WORLD_SIZE": "4", "RANK": rank,
        "PET_NNODES": "4", "PET_NODE_RANK": rank, "PET_NPROC_PER_NODE": "1",
    }


def test_pytorch_without_master_sets_only_trainer_v2_variables() -> None:
    """v1 sets no rendezvous without a Master; v2's torch plugin makes node 0 the master."""
    assert replica_env("pytorch", {"Worker": 2}, "Worker", 1, PORTS) == {
        "PYTHONUNBUFFERED": "1", "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": "2300",
        "PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_NPROC_PER_NODE": "1",
    }


@pytest.mark.parametrize(("role", "index", "rank"), [("Master", 0, "0"), ("Worker", 0, "1"), ("Worker", 1, "2")])
def test_xgboost(role: str, index: int, rank: str) -> None:
    env = replica_env("xgboost", {"Master": 1, "Worker": 2}, role, index, PORTS)
    assert env == {
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "2100", "WORLD_SIZE": "3", "RANK": rank,
        "PYTHONUNBUFFERED": "0", "WORKER_PORT": "2300", "WORKER_ADDRS": "127.0.0.1,127.0.0.1",
        "DMLC_TRACKER_URI": "127.0.0.1", "DMLC_TRACKER_PORT": "2100", "DMLC_TASK_ID": rank, "DMLC_NUM_WORKER": "3",
    }


def test_xgboost_master_alone_has_no_worker_variables() -> None:
    env = replica_env("xgboost", {"Master": 1}, "Master", 0, PORTS)
    assert env == {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "2100", "WORLD_SIZE": "1", "RANK": "0", "PYTHONUNBUFFERED": "0",
                   "DMLC_TRACKER_URI": "127.0.0.1", "DMLC_TRACKER_PORT": "2100", "DMLC_TASK_ID": "0",
                   "DMLC_NUM_WORKER": "1"}
