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
  ``RANK`` (Master 0, Worker i -> i+1) and the torchrun twins ``PET_MASTER_ADDR``,
  ``PET_MASTER_PORT``, ``PET_NNODES``, ``PET_NODE_RANK``, ``PET_NPROC_PER_NODE``.
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


def _pytorch(roles: Mapping[str, int], role: str, index: int, ports: Mapping[str, list[int]]) -> dict[str, str]:
    env = {"PYTHONUNBUFFERED": "1"}
    if "Master" not in roles:
        return env
    rank = index + 1 if role == "Worker" else index
    world = str(replica_count(roles))
    master_port = str(ports["Master"][0])
    env.update({
        "MASTER_ADDR": HOST, "PET_MASTER_ADDR": HOST,
        "MASTER_PORT": master_port, "PET_MASTER_PORT": master_port,
        "WORLD_SIZE": world, "RANK": str(rank),
        "PET_NNODES": world, "PET_NODE_RANK": str(rank), "PET_NPROC_PER_NODE": "1",
    })
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
