"""Pure: an experiment -> one Kubeflow Trainer v2 TrainJob, and what a TrainJob says.

The TrainJob (``trainer.kubeflow.org/v1alpha1``) names a training runtime and overrides
its trainer: ``numNodes`` is every replica of the experiment, nodes in role order (the
Master is node 0, Worker ``i`` is node ``i + 1``; without a Master, Worker ``i`` is node
``i``), so node rank is the training-operator's ``RANK``. Trainer v2 runs every node
alike, so roles that differ in ``cmd``, ``image``, ``envVars`` or ``resources`` are refused.

The same script runs unchanged on every target: v2 injects only ``PET_*`` (torch) and
``DMLC_*`` (xgboost), so the command first exports the training-operator's ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` from them (a variable the spec sets
wins), and ``PYTHONUNBUFFERED`` as v1 sets it. Each node learns its replica's name
(``SUBMARINE_REPLICA``, the logs API's ``podName``) from its Job completion index.

Status: ``Failed`` and ``Complete`` conditions end the experiment; ``Suspended`` (as Kueue
holds a job in its queue) is ``Accepted``; otherwise ``Running`` once every node's pod has
started, as the Kubeflow SDK decides, else ``Created``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ....wire.constants import dns_name
from ....wire.requests import ExperimentSpec
from ...domain import Status
from ..base import BackendError, Submission
from .code import Script, pod_code
from .kinds import LABEL_PREFIX, JobKind
from .manifests import (
    TENSORBOARD_VOLUME,
    ManifestConfig,
    check_operator_rules,
    container_of,
    labels_of,
    namespace_of,
)
from .status import pod_started, stamp_time

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"
#: The replicated job (and container) of the runtime that trains.
NODE = "node"
#: The experiment's roles (role -> replicas), kept on the TrainJob: its spec has only ``numNodes``.
ROLES_ANNOTATION = f"{LABEL_PREFIX}/roles"
#: Who the ``runtimePatches`` entry this server writes belongs to.
PATCH_MANAGER = "submarine.apache.org/submarine-jupyter"
#: The runtime label value of each framework, and the runtime Kubeflow ships for it.
RUNTIME_FRAMEWORKS = {"pytorch": "torch", "xgboost": "xgboost"}
DEFAULT_RUNTIMES = {"pytorch": "torch-distributed", "xgboost": "xgboost-distributed"}
#: The training-operator's variables, from the ones each v2 plugin injects.
V1_FROM_V2 = {
    "pytorch": {"RANK": "PET_NODE_RANK", "WORLD_SIZE": "PET_NNODES",
                "MASTER_ADDR": "PET_MASTER_ADDR", "MASTER_PORT": "PET_MASTER_PORT"},
    "xgboost": {"RANK": "DMLC_TASK_ID", "WORLD_SIZE": "DMLC_NUM_WORKER",
                "MASTER_ADDR": "DMLC_TRACKER_URI", "MASTER_PORT": "DMLC_TRACKER_PORT"},
}
UNBUFFERED = {"pytorch": "1", "xgboost": "0"}  # as the training-operator sets PYTHONUNBUFFERED
_CONDITION_STATUS: dict[str, Status] = {"Failed": "Failed", "Complete": "Succeeded", "Suspended": "Accepted"}


@dataclass(frozen=True)
class RuntimeRef:
    """The training runtime a TrainJob names."""

    name: str
    kind: str = "ClusterTrainingRuntime"  # or "TrainingRuntime", in the job's namespace


@dataclass(frozen=True)
class TrainJobKind(JobKind):
    """TrainJobs: roles from the annotation, status from conditions and pods, pods by node index."""

    def counts(self, job: dict[str, Any]) -> dict[str, int]:
        annotations = (job.get("metadata") or {}).get("annotations") or {}
        try:
            roles = json.loads(annotations[ROLES_ANNOTATION])
            return {str(role): int(count) for role, count in roles.items()}
        except (KeyError, TypeError, ValueError, AttributeError):  # a TrainJob made elsewhere
            return {"Worker": int(((job.get("spec") or {}).get("trainer") or {}).get("numNodes") or 1)}

    def status(self, job: dict[str, Any], pods: Sequence[dict[str, Any] | None] = ()) -> tuple[Status | None, str | None]:
        conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                      if c.get("status") == "True"}
        for kind in ("Failed", "Complete", "Suspended"):
            if kind in conditions:
                return _CONDITION_STATUS[kind], conditions[kind].get("message")
        if pods and all(pod is not None and pod_started(pod) for pod in pods):
            return "Running", None
        return "Created", None

    def times(self, job: dict[str, Any]) -> dict[Status, datetime]:
        times: dict[Status, datetime] = {}
        for condition in (job.get("status") or {}).get("conditions") or []:
            status = _CONDITION_STATUS.get(str(condition.get("type")))
            when = stamp_time(condition.get("lastTransitionTime"))
            if status is not None and when is not None and condition.get("status") == "True":
                times[status] = when
        return times

    def pod_slot(self, pod: dict[str, Any]) -> str | None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(REPLICATED_JOB_LABEL) != NODE or COMPLETION_INDEX_LABEL not in labels:
            return None  # an initializer's pod, or not a Trainer pod
        return f"{labels.get(JOBSET_NAME_LABEL)}-{NODE}-{labels[COMPLETION_INDEX_LABEL]}"

    def replica_slot(self, job_name: str, position: int, replica: str) -> str:
        return f"{job_name}-{NODE}-{position}"


#: One kind for both frameworks (their roles, Master and Worker, are listed alike).
TRAINJOB = TrainJobKind("pytorch", "TrainJob", "trainjobs", "", NODE, group=GROUP, version=VERSION,
                        pod_label=JOBSET_NAME_LABEL)
TRAINJOB_KINDS: dict[str, JobKind] = {"pytorch": TRAINJOB, "xgboost": TRAINJOB}


def _alike(spec: ExperimentSpec) -> None:
    """Refuse roles that differ in what a TrainJob gives every node alike."""
    roles = list(spec.spec.items())
    first_role, first = roles[0]
    for role, task in roles[1:]:
        for field, wire in (("cmd", "cmd"), ("image", "image"), ("env_vars", "envVars"), ("resources", "resources")):
            if getattr(task, field) != getattr(first, field):
                raise BackendError(
                    f"spec.{role}.{wire}: a Trainer v2 TrainJob runs every node alike, and this differs from "
                    f"spec.{first_role}.{wire}; give both roles the same {wire}, or use a training-operator target")


def _preamble(spec: ExperimentSpec, experiment_id: str, config: ManifestConfig) -> str:
    """Shell lines run before the command: the v1 variables, the replica's name, its TensorBoard folder."""
    framework = spec.meta.framework_key
    exports = " ".join(f'{v1}="${{{v1}:-${v2}}}"' for v1, v2 in V1_FROM_V2[framework].items())
    job = dns_name(experiment_id)
    index = "$SUBMARINE_NODE_INDEX"
    if "Master" in spec.spec:
        replica = f'if [ "{index}" = 0 ]; then SUBMARINE_REPLICA={job}-master-0; ' \
                  f'else SUBMARINE_REPLICA={job}-worker-$(({index} - 1)); fi'
    else:
        replica = f"SUBMARINE_REPLICA={job}-worker-{index}"
    lines = [f"export {exports}", replica, "export SUBMARINE_REPLICA"]
    if config.tensorboard_mount_path:
        folder = f"{config.tensorboard_mount_path.rstrip('/')}/{experiment_id}/$SUBMARINE_REPLICA"
        lines.append(f'export SUBMARINE_TENSORBOARD_LOG_DIR="${{SUBMARINE_TENSORBOARD_LOG_DIR:-{folder}}}"')
    return "\n".join(lines)


def _runtime_patch(submission: Submission, config: ManifestConfig, mounts: list[dict[str, Any]],
                   code_volume: dict[str, Any] | None) -> dict[str, Any]:
    """The ``runtimePatches`` entry: the pods' labels, volumes, pull secrets and service account."""
    pod: dict[str, Any] = {}
    volumes = [{"name": TENSORBOARD_VOLUME, **config.tensorboard_volume}] \
        if config.tensorboard_mount_path and config.tensorboard_volume is not None else []
    if code_volume is not None:
        volumes.append(code_volume)
    if volumes:
        pod["volumes"] = volumes
        pod["containers"] = [{"name": NODE, "volumeMounts": mounts}]
    if config.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in config.image_pull_secrets]
    if config.service_account:
        pod["serviceAccountName"] = config.service_account
    template: dict[str, Any] = {"metadata": {"labels": labels_of(submission.experiment_id, submission.spec)}}
    if pod:
        template["spec"] = pod
    return {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
        {"name": NODE, "template": {"spec": {"template": template}}}]}}}}


def trainjob_manifest(submission: Submission, config: ManifestConfig, runtime: RuntimeRef | None,
                      script: Script | None = None) -> dict[str, Any]:
    """The TrainJob ``submission`` becomes on ``runtime`` (with ``script`` from its ConfigMap
    at ``/code``; with ``code.git``, ``runtime`` is the experiment's own, ``code_runtime``,
    which clones); ``BackendError`` when it cannot be one."""
    spec = submission.spec
    framework = spec.meta.framework_key
    namespace = namespace_of(spec, config)
    check_operator_rules(spec)
    _alike(spec)
    role, task = next(iter(spec.spec.items()))
    code = pod_code(spec, submission.experiment_id, script, config.code_git_image)
    container = container_of(submission, role, task, TRAINJOB, config, code)
    mounts, code_volume = container.get("volumeMounts", []), code.volume if code is not None else None
    if code is not None and code.init_container is not None:  # the clone, its volume and mount: in the runtime
        mounts, code_volume = [mount for mount in mounts if mount != code.mount], None
    env = [item for item in container.get("env", []) if not item["name"].startswith("SUBMARINE_")]
    env[:0] = [{"name": "PYTHONUNBUFFERED", "value": UNBUFFERED[framework]},
               {"name": "SUBMARINE_NODE_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{COMPLETION_INDEX_LABEL}']"}}}]
    command = ["sh", "-c", f"{_preamble(spec, submission.experiment_id, config)}\n{container['command'][2]}"]
    trainer: dict[str, Any] = {"numNodes": sum(t.replicas for t in spec.spec.values()),
                               "image": container["image"], "command": command, "env": env}
    if framework == "pytorch":
        trainer["numProcPerNode"] = 1  # one process per replica, as on the training-operator
    if "resources" in container:
        trainer["resourcesPerNode"] = container["resources"]
    chosen = runtime or RuntimeRef(DEFAULT_RUNTIMES[framework])
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": TRAINJOB.kind,
        "metadata": {
            "name": dns_name(submission.experiment_id),
            "namespace": namespace,
            "labels": labels_of(submission.experiment_id, spec),
            "annotations": {ROLES_ANNOTATION: json.dumps({r: t.replicas for r, t in spec.spec.items()},
                                                         separators=(",", ":"))},
        },
        "spec": {
            "runtimeRef": {"apiGroup": GROUP, "kind": chosen.kind, "name": chosen.name},
            "trainer": trainer,
            "runtimePatches": [_runtime_patch(submission, config, mounts, code_volume)],
        },
    }
