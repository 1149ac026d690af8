"""The Kubeflow training-operator's (v1) environment contract, for replicas on one host.

Pure functions: given an experiment's roles, the replica's place and the ports the
local backend allocated, return exactly the variables the operator would put in the
pod, with ``127.0.0.1:<port>`` where the operator would put ``<service>:<port>``.

- TensorFlow (``tensorflow.go``): ``TF_CONFIG`` =
  ``{"cluster": {<role lower>: [addr, ...]}, "task": {"type", "index"}, "environment": "cloud"}``,
  set only when the job has more than one replica in all; ``evaluator`` is not part of
  the training cluster but gets its own ``task``.
- PyTorch (``envvar.go``/``master.go``): ``PYTHONUNBUFFERED=1``; when there is a
  Master: ``MASTER_ADDR``/``MASTER_PORT`` (Master 0's), ``WORLD_SIZE`` (all replicas),
  ``RANK`` (Master 0, Worker i -> i+1).
- Trainer v2's plugins (``torch.go``, ``xgboost.go``), on every replica with or without a
  Master, one process per node, node 0 the first replica in role order: torch
  ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``, ``PET_NNODES``, ``PET_NODE_RANK``,
  ``PET_NPROC_PER_NODE=1``; xgboost ``DMLC_TRACKER_URI``, ``DMLC_TRACKER_PORT``,
  ``DMLC_TASK_ID`` (the node's rank), ``DMLC_NUM_WORKER`` (every node; v2 multiplies by the
  GPUs per node, and runs one process per GPU, where this runs one per replica).
- XGBoost (``xgboost.go``): ``MASTER_ADDR``/``MASTER_PORT`` (the Rabit tracker, Master
  0), ``WORLD_SIZE``, ``RANK`` (Master i, Worker i -> i + masters),
  ``PYTHONUNBUFFERED=0``; with more than one replica also ``WORKER_PORT`` and
  ``WORKER_ADDRS`` (comma-separated, used by LightGBM).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ....wire.constants import ROLE_ORDER

HOST = "127.0.0.1"


def replica_count(roles: Mapping[str, int]) -> int:
    return sum(roles.values())


def tf_config(roles: Mapping[str, int], role: str, index: int, ports: Mapping[str, list[int]]) -> str:
    """``TF_CONFIG`` for one TensorFlow replica."""
    cluster = {
        name.lower(): [f"{HOST}:{port}" for port in ports[name][: roles[name]]]
        for name in ROLE_ORDER
        if name in roles and name != "Evaluator"
    }
    config = {
        "cluster": cluster,
        "task": {"type": role.lower(), "index": index},
        "environment": "cloud",
    }
    return json.dumps(config, separators=(",", ":"))


def node_rank(roles: Mapping[str, int], role: str, index: int) -> int:
    """The replica's node in Trainer v2's layout: roles in order, the Master first."""
    return sum(roles[r] for r in ROLE_ORDER if r in roles and ROLE_ORDER.index(r) < ROLE_ORDER.index(role)) + index


def _node0_port(roles: Mapping[str, int], ports: Mapping[str, list[int]]) -> str:
    return str(ports[next(r for r in ROLE_ORDER if r in roles)][0])


def _pytorch(roles: Mapping[str, int], role: str, index: int, ports: Mapping[str, list[int]]) -> dict[str, str]:
    world, rank, port = str(replica_count(roles)), str(node_rank(roles, role, index)), _node0_port(roles, ports)
    env = {"PYTHONUNBUFFERED": "1", "PET_MASTER_ADDR": HOST, "PET_MASTER_PORT": port,
           "PET_NNODES": world, "PET_NODE_RANK": rank, "PET_NPROC_PER_NODE": "1"}
    if "Master" in roles:
        env.update({"MASTER_ADDR": HOST, "MASTER_PORT": port, "WORLD_SIZE": world, "RANK": rank})
    return env


def _xgboost(roles: Mapping[str, int], role: str, index: int, ports: Mapping[str, list[int]]) -> dict[str, str]:
    masters = roles.get("Master", 0)
    rank = index + masters if role == "Worker" else index
    total = replica_count(roles)
    env = {"MASTER_ADDR": HOST}
    if "Master" in roles:
        env["MASTER_PORT"] = str(ports["Master"][0])
    env.update({"WORLD_SIZE": str(total), "RANK": str(rank), "PYTHONUNBUFFERED": "0"})
    if total > 1 and "Worker" in roles:
        env["WORKER_PORT"] = str(ports["Worker"][0])
        env["WORKER_ADDRS"] = ",".join([HOST] * (total - 1))
    env.update({"DMLC_TRACKER_URI": HOST, "DMLC_TRACKER_PORT": _node0_port(roles, ports),
                "DMLC_TASK_ID": str(node_rank(roles, role, index)), "DMLC_NUM_WORKER": str(total)})
    return env


def replica_env(
    framework: str, roles: Mapping[str, int], role: str, index: int, ports: Mapping[str, list[int]]
) -> dict[str, str]:
    """The operator's variables for replica ``index`` of ``role``.

    ``framework`` is lower-case; ``roles`` maps each role to its replica count;
    ``ports`` maps each role to one port per replica.
    """
    if framework == "tensorflow":
        if replica_count(roles) <= 1:
            return {}
        return {"TF_CONFIG": tf_config(roles, role, index, ports)}
    if framework == "pytorch":
        return _pytorch(roles, role, index, ports)
    if framework == "xgboost":
        return _xgboost(roles, role, index, ports)
    raise ValueError(f"unknown framework {framework!r}")
