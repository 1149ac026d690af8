"""Pure: an experiment -> one Kubeflow training-operator ``kubeflow.org/v1`` job.

``job_manifest`` turns a ``Submission`` into the TFJob / PyTorchJob / XGBoostJob the
Kubernetes backend creates (and ``dryRun`` shows). Nothing here talks to a cluster.

Choices the operator leaves open, and what this module does:

- ``restartPolicy`` of every role is ``ManifestConfig.restart_policy``, ``OnFailure`` by
  default: a crashed replica is restarted in place until the job's ``backoffLimit`` is
  spent, then the job (and the experiment) is Failed.
- ``runPolicy.cleanPodPolicy`` defaults to ``None`` so finished pods, and their logs,
  stay until the experiment is deleted.
- The image of a role is its own ``image``, else the experiment's environment image,
  else ``ManifestConfig.default_image``; with none of them the submission is refused.
- With ``tensorboard_mount_path``, every replica gets ``SUBMARINE_TENSORBOARD_LOG_DIR=
  <mount path>/<experimentId>/<pod name>`` (the pod name through ``SUBMARINE_POD_NAME``,
  from the downward API), and ``tensorboard_volume`` mounted there when it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from ....wire.constants import dns_name, framework_name
from ....wire.requests import ExperimentSpec, TaskSpec
from ..base import BackendError, Submission
from .code import CODE_PATH, PodCode, Script, pod_code
from .kinds import (
    API_VERSION,
    EXPERIMENT_ID_LABEL,
    EXPERIMENT_NAME_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    JobKind,
    job_kind,
    label_value,
)

#: Replicas of one role at most: far beyond any real job, and a bound on what the
#: backend enumerates per experiment (replica reports, logs).
MAX_REPLICAS = 10_000
RestartPolicy = Literal["Always", "OnFailure", "Never", "ExitCode"]
CleanPodPolicy = Literal["None", "Running", "All"]
RESTART_POLICIES: tuple[RestartPolicy, ...] = get_args(RestartPolicy)
CLEAN_POD_POLICIES: tuple[CleanPodPolicy, ...] = get_args(CleanPodPolicy)
ANY_NAMESPACE = "*"
TENSORBOARD_VOLUME = "submarine-tensorboard"


@dataclass(frozen=True)
class ManifestConfig:
    """Site settings that shape every job (``KubernetesBackend``'s settings, which the
    traitlets check)."""

    namespace: str = "default"
    #: Namespaces users may name besides ``namespace``; ``"*"`` allows any.
    allowed_namespaces: tuple[str, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    restart_policy: RestartPolicy = "OnFailure"
    clean_pod_policy: CleanPodPolicy = "None"
    backoff_limit: int | None = 3
    default_image: str | None = None
    tensorboard_mount_path: str | None = None
    tensorboard_volume: dict[str, Any] | None = None
    #: The image of the init container that clones ``code.git`` (it needs ``sh`` and ``git``).
    code_git_image: str = "alpine/git:2.47.2"

    @property
    def any_namespace(self) -> bool:
        return ANY_NAMESPACE in self.allowed_namespaces

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces jobs may live in (without ``"*"``), the default first."""
        others = (ns for ns in self.allowed_namespaces if ns not in (ANY_NAMESPACE, self.namespace))
        return (self.namespace, *dict.fromkeys(others))


def namespace_of(spec: ExperimentSpec, config: ManifestConfig) -> str:
    """The namespace the experiment's job goes to; refuses one that is not allowed (403)."""
    if "namespace" not in spec.meta.model_fields_set:
        return config.namespace
    namespace = spec.meta.namespace
    if config.any_namespace or namespace in config.namespaces:
        return namespace
    allowed = ", ".join(config.namespaces)
    raise BackendError(
        f"namespace '{namespace}' is not allowed on this server (allowed: {allowed})", 403
    )


def labels_of(experiment_id: str, spec: ExperimentSpec) -> dict[str, str]:
    return {
        EXPERIMENT_ID_LABEL: label_value(experiment_id),
        EXPERIMENT_NAME_LABEL: label_value(spec.meta.name),
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def check_operator_rules(spec: ExperimentSpec) -> None:
    """Refuse what the training-operator would fail the job for, before it is created."""
    framework = framework_name(spec.meta.framework_key)
    for role, task in spec.spec.items():
        if task.replicas > MAX_REPLICAS:
            raise BackendError(f"spec.{role}.replicas: at most {MAX_REPLICAS}, got {task.replicas}")
    for role in ("Master", "Chief"):
        single = spec.spec.get(role)
        if single is not None and single.replicas != 1:
            raise BackendError(
                f"spec.{role}.replicas: a {framework} job has exactly one {role}, got {single.replicas}"
            )
    if spec.meta.framework_key == "xgboost" and "Master" not in spec.spec:
        raise BackendError("spec: an XGBoost job needs a Master role")


def _resources(task: TaskSpec) -> dict[str, dict[str, str]]:
    parsed = task.parsed_resources
    requests: dict[str, str] = {key: parsed.raw[key] for key in ("cpu", "memory") if key in parsed.raw}
    limits = dict(requests)
    if parsed.gpu:
        limits["nvidia.com/gpu"] = str(parsed.gpu)
    resources = {"requests": requests, "limits": limits}
    return {key: value for key, value in resources.items() if value}


def container_of(submission: Submission, role: str, task: TaskSpec, kind: JobKind,
                 config: ManifestConfig, code: PodCode | None = None) -> dict[str, Any]:
    meta = submission.spec.meta
    image = task.image or submission.image or config.default_image
    if not image:
        raise BackendError(
            f"spec.{role}: no container image: give spec.{role}.image or an environment "
            "(this server has no default image configured)"
        )
    container: dict[str, Any] = {
        "name": kind.container,
        "image": image,
        "command": ["sh", "-c", (code.command if code else None) or task.cmd or meta.cmd],
    }
    env: list[dict[str, Any]] = [
        {"name": name, "value": value} for name, value in {**meta.env_vars, **task.env_vars}.items()]
    mounts = []
    if config.tensorboard_mount_path:
        env[:0] = _tensorboard_env(config.tensorboard_mount_path, submission.experiment_id)
        if config.tensorboard_volume is not None:
            mounts.append({"name": TENSORBOARD_VOLUME, "mountPath": config.tensorboard_mount_path})
    if code is not None:
        env[:0] = code.env
        mounts.append(code.mount)
        if code.init_container is not None:  # a clone (a script's ConfigMap is read-only)
            container["workingDir"] = CODE_PATH
    if mounts:
        container["volumeMounts"] = mounts
    if env:
        container["env"] = env
    resources = _resources(task)
    if resources:
        container["resources"] = resources
    return container


def _tensorboard_env(mount_path: str, experiment_id: str) -> list[dict[str, Any]]:
    """The replica's ``SUBMARINE_TENSORBOARD_LOG_DIR``, a folder of its own (set first, so
    the spec's variables win)."""
    return [
        {"name": "SUBMARINE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "SUBMARINE_TENSORBOARD_LOG_DIR",
         "value": f"{mount_path.rstrip('/')}/{experiment_id}/$(SUBMARINE_POD_NAME)"},
    ]


def _pod_template(submission: Submission, role: str, task: TaskSpec, kind: JobKind,
                  config: ManifestConfig, code: PodCode | None) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container_of(submission, role, task, kind, config, code)]}
    volumes = []
    if config.tensorboard_mount_path and config.tensorboard_volume is not None:
        volumes.append({"name": TENSORBOARD_VOLUME, **config.tensorboard_volume})
    if code is not None:
        volumes.append(code.volume)
        if code.init_container is not None:
            pod["initContainers"] = [code.init_container]
    if volumes:
        pod["volumes"] = volumes
    if config.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in config.image_pull_secrets]
    if config.service_account:
        pod["serviceAccountName"] = config.service_account
    labels = labels_of(submission.experiment_id, submission.spec)
    return {"metadata": {"labels": labels}, "spec": pod}


def job_manifest(submission: Submission, config: ManifestConfig, script: Script | None = None) -> dict[str, Any]:
    """The job ``submission`` becomes (with ``script`` from its ConfigMap at ``/code``);
    ``BackendError`` when it cannot be one."""
    spec = submission.spec
    kind = job_kind(spec)
    namespace = namespace_of(spec, config)
    check_operator_rules(spec)
    code = pod_code(spec, submission.experiment_id, script, config.code_git_image)
    replica_specs = {
        kind.replica_key(role): {
            "replicas": task.replicas,
            "restartPolicy": config.restart_policy,
            "template": _pod_template(submission, role, task, kind, config, code),
        }
        for role, task in spec.spec.items()
    }
    run_policy: dict[str, Any] = {"cleanPodPolicy": config.clean_pod_policy}
    if config.backoff_limit is not None:
        run_policy["backoffLimit"] = config.backoff_limit
    return {
        "apiVersion": API_VERSION,
        "kind": kind.kind,
        "metadata": {
            "name": dns_name(submission.experiment_id),
            "namespace": namespace,
            "labels": labels_of(submission.experiment_id, spec),
        },
        "spec": {"runPolicy": run_policy, kind.replica_specs: replica_specs},
    }
