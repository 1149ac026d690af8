"""The API's vocabulary, written once: frameworks, roles and their order, statuses, names.

Server, kernel and (through the OpenAPI document) the panel all take these from here.
"""

from __future__ import annotations

from typing import Literal, get_args

Framework = Literal["TensorFlow", "PyTorch", "XGBoost"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)

#: Role names each framework accepts (keyed by the framework lower-cased), exact-case,
#: as the training-operator names them, in the order replicas are listed.
FRAMEWORK_ROLES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("Chief", "Master", "Ps", "Worker", "Evaluator"),
    "pytorch": ("Master", "Worker"),
    "xgboost": ("Master", "Worker"),
}
#: Every role, in the order replicas are listed (and ``TF_CONFIG`` clusters are written).
ROLE_ORDER: tuple[str, ...] = ("Chief", "Master", "Ps", "Worker", "Evaluator")

#: What an experiment can be; ``Deleted`` appears only in the answer to DELETE.
ExperimentStatus = Literal["Accepted", "Created", "Running", "Succeeded", "Failed", "Stopped", "Deleted"]
#: The statuses an experiment is stored with (and can be listed by).
StoredStatus = Literal["Accepted", "Created", "Running", "Succeeded", "Failed", "Stopped"]
STATUSES: tuple[str, ...] = get_args(StoredStatus)
#: Statuses an experiment never leaves. ``Stopped``: a user stopped it (its record, logs and
#: metrics are kept), neither a success nor a failure of the training.
TERMINAL_STATUSES: frozenset[str] = frozenset({"Succeeded", "Failed", "Stopped"})

ReplicaState = Literal["Pending", "Running", "Succeeded", "Failed", "Stopped"]
REPLICA_STATES: tuple[str, ...] = get_args(ReplicaState)


def framework_name(framework: str) -> str:
    """``pytorch`` (any case) -> ``PyTorch``."""
    return next(name for name in FRAMEWORKS if name.lower() == framework.lower())


def role_rank(role: str) -> int:
    """A role's place in ``ROLE_ORDER`` (unknown roles last)."""
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def dns_name(experiment_id: str) -> str:
    """``experiment_1592057447228_0001`` -> ``experiment-1592057447228-0001``."""
    return experiment_id.replace("_", "-")


def replica_name(experiment_id: str, role: str, index: int) -> str:
    """A replica's name on every backend: the logs API's ``podName`` and the pod's name."""
    return f"{dns_name(experiment_id)}-{role.lower()}-{index}"


def pod_name(experiment_id: str, replica: str) -> str:
    """The full replica (pod) name for ``worker-1`` or an already full name."""
    prefix = dns_name(experiment_id) + "-"
    return replica if replica.startswith(prefix) else prefix + replica


def replica_label(experiment_id: str, pod: str) -> str:
    """The short replica name (``worker-1``) of a pod name of this experiment."""
    prefix = dns_name(experiment_id) + "-"
    return pod[len(prefix):] if pod.startswith(prefix) else pod


def replica_sort_key(name: str) -> tuple[int, int, str]:
    """Order replica names as the backends list them: by role, then index."""
    parts = name.rsplit("-", 2)
    role, index = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    order = [r.lower() for r in ROLE_ORDER]
    return (order.index(role) if role in order else len(order), int(index) if index.isdigit() else 0, name)

#: The most experiments one page of a list holds (``limit``).
MAX_PAGE = 1000
