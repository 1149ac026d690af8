"""Pure: the Kubeflow APIs a Kubernetes target speaks, each its job kinds and manifests.

- ``training-operator``: ``kubeflow.org/v1`` TFJob, PyTorchJob and XGBoostJob
  (``manifests.job_manifest``).
- ``trainer``: Kubeflow Trainer v2's ``trainer.kubeflow.org/v1alpha1`` TrainJob over a
  training runtime (``trainjobs.trainjob_manifest``); PyTorch and XGBoost only.
- ``auto``: the one the cluster serves (``discovered``), Trainer v2 where it has both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ....wire.constants import framework_name
from ....wire.requests import ExperimentSpec
from ..base import BackendError, Submission
from .code import Script
from .kinds import JOB_KINDS, JobKind
from .manifests import ManifestConfig, job_manifest
from .trainjobs import TRAINJOB_KINDS, RuntimeRef, trainjob_manifest

#: (submission, site settings, the runtime a TrainJob names, the script that travels) -> the object to create
Manifest = Callable[[Submission, ManifestConfig, RuntimeRef | None, Script | None], dict[str, Any]]


@dataclass(frozen=True)
class KubeflowApi:
    """One API: the kind each framework's experiments become, and the manifest of one."""

    name: str
    by_framework: dict[str, JobKind]
    manifest: Manifest

    @property
    def kinds(self) -> tuple[JobKind, ...]:
        """The kinds to watch: one watch each."""
        return tuple(dict.fromkeys(self.by_framework.values()))

    @property
    def pod_label(self) -> str:
        return self.kinds[0].pod_label

    def pod_slot(self, pod: dict[str, Any]) -> str | None:
        return self.kinds[0].pod_slot(pod)

    def kind_for(self, spec: ExperimentSpec) -> JobKind:
        """The kind ``spec`` becomes; a 400 naming the framework when this API has none."""
        kind = self.by_framework.get(spec.meta.framework_key)
        if kind is None:
            supported = ", ".join(framework_name(key) for key in self.by_framework)
            raise BackendError(
                f"meta.framework: {framework_name(spec.meta.framework_key)} cannot run on a Kubeflow {self.name} "
                f"target (it runs {supported}); choose another target or framework")
        return kind


def _v1(submission: Submission, config: ManifestConfig, _: RuntimeRef | None, script: Script | None) -> dict[str, Any]:
    return job_manifest(submission, config, script)


TRAINING_OPERATOR = KubeflowApi("training-operator", dict(JOB_KINDS), _v1)
TRAINER = KubeflowApi("trainer", dict(TRAINJOB_KINDS), trainjob_manifest)
APIS: dict[str, KubeflowApi] = {api.name: api for api in (TRAINING_OPERATOR, TRAINER)}

#: ``KubernetesBackend.api``'s value that asks the cluster.
AUTO = "auto"


def discovered(groups: Collection[str]) -> KubeflowApi | None:
    """``auto``: Trainer v2 where the cluster serves its API group (new installs, and the
    one Kueue supports), else the training-operator's; None when it serves neither."""
    for api in (TRAINER, TRAINING_OPERATOR):
        if api.kinds[0].group in groups:
            return api
    return None


def neither_message() -> str:
    return (f"the cluster serves no Kubeflow training API: neither {TRAINER.kinds[0].group} (Kubeflow Trainer v2) "
            f"nor {TRAINING_OPERATOR.kinds[0].group} (the training-operator); install one, or set this target's api")
