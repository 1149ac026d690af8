"""Pure: the training-operator's names: API group and version, job kinds, labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ....wire.requests import ExperimentSpec

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
    """How the training-operator names one framework's job."""

    framework: str  # lower-case key of wire.constants.FRAMEWORK_ROLES
    kind: str
    plural: str
    replica_specs: str  # the spec field holding the roles
    container: str  # the container name the operator looks for

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
