"""Which Kubeflow Trainer v2 training runtime a TrainJob names.

Configured (``KubernetesBackend.trainer_runtimes``: ``name`` of a ClusterTrainingRuntime or
``TrainingRuntime/name``) it is used as given. Otherwise the cluster is asked for the runtimes
labelled ``trainer.kubeflow.org/framework=<torch|xgboost>``: a TrainingRuntime in the
experiment's namespace before a ClusterTrainingRuntime, Kubeflow's own
(``torch-distributed``, ``xgboost-distributed``) where several are, else the first by name.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from ....wire.constants import framework_name
from ....wire.requests import ExperimentSpec
from ..base import BackendError
from .client import REQUEST_TIMEOUT, Apis, Connector, call
from .trainjobs import DEFAULT_RUNTIMES, FRAMEWORK_LABEL, GROUP, RUNTIME_FRAMEWORKS, VERSION, RuntimeRef

RUNTIME_KINDS = ("TrainingRuntime", "ClusterTrainingRuntime")


def configured_runtime(text: str) -> RuntimeRef:
    """``name`` or ``Kind/name`` -> the runtime it names."""
    kind, _, name = text.rpartition("/")
    return RuntimeRef(name, kind or "ClusterTrainingRuntime")


class Runtimes:
    """Finds each experiment's runtime: configured, else labelled on the cluster."""

    def __init__(self, connector: Connector, configured: dict[str, str]) -> None:
        self._connector = connector
        self._configured = {key.lower(): configured_runtime(value) for key, value in configured.items()}

    async def find(self, spec: ExperimentSpec, namespace: str) -> RuntimeRef:
        framework = spec.meta.framework_key
        if framework in self._configured:
            return self._configured[framework]
        label = RUNTIME_FRAMEWORKS[framework]
        found = await call(self._connector, lambda apis: _labelled(apis, namespace, label))
        for kind in RUNTIME_KINDS:
            names = sorted(name for found_kind, name in found if found_kind == kind)
            if names:
                return RuntimeRef(DEFAULT_RUNTIMES[framework] if DEFAULT_RUNTIMES[framework] in names else names[0],
                                  kind)
        raise BackendError(
            f"meta.framework: this target has no Kubeflow Trainer runtime for {framework_name(framework)}: no "
            f"TrainingRuntime in '{namespace}' nor ClusterTrainingRuntime is labelled {FRAMEWORK_LABEL}={label} "
            "(install one, or name one in c.KubernetesBackend.trainer_runtimes)")

    async def read(self, ref: RuntimeRef, namespace: str) -> dict[str, Any]:
        """The runtime ``ref`` names (a TrainingRuntime: in ``namespace``)."""
        def read(apis: Apis) -> dict[str, Any]:
            if ref.kind == "TrainingRuntime":
                return apis.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
                    GROUP, VERSION, namespace, "trainingruntimes", ref.name, _request_timeout=REQUEST_TIMEOUT)
            return apis.custom.get_cluster_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, "clustertrainingruntimes", ref.name, _request_timeout=REQUEST_TIMEOUT)

        try:
            return await call(self._connector, read, namespace=namespace, name=ref.name)
        except BackendError as error:
            if error.code != 404:
                raise
            where = f" in '{namespace}'" if ref.kind == "TrainingRuntime" else ""
            raise BackendError(f"meta.framework: the Kubeflow Trainer runtime {ref.kind} {ref.name} is not on this "
                               f"target{where}, to clone code.git for", 422) from None


def _labelled(apis: Apis, namespace: str, label: str) -> list[tuple[str, str]]:
    """(kind, name) of the runtimes labelled for ``label``'s framework."""
    selector = f"{FRAMEWORK_LABEL}={label}"
    listed: list[tuple[str, dict[str, Any]]] = []
    try:
        listed += [("TrainingRuntime", item) for item in apis.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "trainingruntimes", label_selector=selector,
            _request_timeout=REQUEST_TIMEOUT).get("items") or []]
        listed += [("ClusterTrainingRuntime", item) for item in apis.custom.list_cluster_custom_object(
            GROUP, VERSION, "clustertrainingruntimes", label_selector=selector,
            _request_timeout=REQUEST_TIMEOUT).get("items") or []]
    except ApiException as error:
        if error.status != 404:  # 404: Kubeflow Trainer is not installed
            raise
    return [(kind, item["metadata"]["name"]) for kind, item in listed]
