"""Pure: the training-operator's names: API group and version, job kinds, labels; and
what a v1 job's object says (its roles, status, pods), which other APIs' kinds override."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ....wire.requests import ExperimentSpec
from ...domain import Status
from .status import condition_times, job_status

GROUP = "kubeflow.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

LABEL_PREFIX = "submarine.apache.org"
EXPERIMENT_ID_LABEL = f"{LABEL_PREFIX}/experiment-id"
EXPERIMENT_NAME_LABEL = f"{LABEL_PREFIX}/experiment-name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "submarine-jupyter"
#: The label the training-operator puts on every pod of a job.
JOB_NAME_LABEL = "training.kubeflow.org/job-name"


@dataclass(frozen=True)
class JobKind:
    """How the training-operator names one framework's job, and how to read one."""

    framework: str  # lower-case key of wire.constants.FRAMEWORK_ROLES
    kind: str
    plural: str
    replica_specs: str  # the spec field holding the roles
    container: str  # the container name the operator looks for
    group: str = GROUP
    version: str = VERSION
    #: The label every pod of a job carries, valued with the job's name.
    pod_label: str = JOB_NAME_LABEL

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def counts(self, job: dict[str, Any]) -> dict[str, int]:
        """Role -> replicas, as the job's spec says."""
        specs = (job.get("spec") or {}).get(self.replica_specs) or {}
        return {self.role_name(key): int((spec or {}).get("replicas", 1)) for key, spec in specs.items()}

    def status(self, job: dict[str, Any], pods: Sequence[dict[str, Any] | None] = ()) -> tuple[Status | None, str | None]:
        """The experiment status the job says (``None``: not reconciled yet) and why; ``pods``:
        its replicas' pods in order, where the status depends on them."""
        return job_status(job)

    def times(self, job: dict[str, Any]) -> dict[Status, datetime]:
        """When each status began, as the job's conditions say."""
        return condition_times(job)

    def pod_slot(self, pod: dict[str, Any]) -> str | None:
        """The name the watch cache keeps ``pod`` under: its replica's, which is the pod's own."""
        return (pod.get("metadata") or {}).get("name")

    def replica_slot(self, job_name: str, position: int, replica: str) -> str:
        """The slot of the replica at ``position`` (in role order) of job ``job_name``."""
        return replica

    def replica_key(self, role: str) -> str:
        """A Submarine role name -> the key in ``<replica_specs>`` (TensorFlow ``Ps`` -> ``PS``)."""
        return "PS" if self.framework == "tensorflow" and role == "Ps" else role

    def role_name(self, key: str) -> str:
        """Inverse of ``replica_key``."""
        return "Ps" if self.framework == "tensorflow" and key == "PS" else key


JOB_KINDS: dict[str, JobKind] = {
    "tensorflow": JobKind("tensorflow", "TFJob", "tfjobs", "tfReplicaSpecs", "tensorflow"),
    "pytorch": JobKind("pytorch", "PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs", "pytorch"),
    "xgboost": JobKind("xgboost", "XGBoostJob", "xgboostjobs", "xgbReplicaSpecs", "xgboost"),
}


def job_kind(spec: ExperimentSpec) -> JobKind:
    return JOB_KINDS[spec.meta.framework_key]


_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """``text`` made a valid label value: allowed characters, at most 63, alphanumeric ends."""
    value = _LABEL_BAD.sub("-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)
